package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
)

func init() {
	commands["train"] = command{summary: "train a model and write its artifact directory", run: runTrain}
	commands["evaluate"] = command{summary: "print a model's performance report on a CSV file", run: runEvaluate}
	commands["predict"] = command{summary: "tag texts with a model, one JSON line per text", run: runPredict}
	commands["cv"] = command{summary: "cross-validate training arguments on a CSV file", run: runCV}
}

// newFlagSet returns a flag set for subcommand name whose usage names its
// positional arguments.
func newFlagSet(name, positional string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: tagifai %s [flags]%s\n\nflags:\n", name, positional)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; a parse error (already printed) and -h become
// errUsage and nil.
func parseFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return true, errUsage
	}
	return false, nil
}

// usageError prints msg and the usage of fs, and returns errUsage.
func usageError(fs *flag.FlagSet, e env, msg string) error {
	fmt.Fprintf(e.stderr, "tagifai %s: %s\n", fs.Name(), msg)
	fs.Usage()
	return errUsage
}

// readArgs returns model.DefaultArgs overridden by the JSON object in path,
// if any; unknown fields are an error.
func readArgs(path string) (model.Args, error) {
	args := model.DefaultArgs()
	if path == "" {
		return args, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return args, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil {
		return args, fmt.Errorf("args %s: %w", path, err)
	}
	return args, args.Validate()
}

// trainReport is what train prints on stdout.
type trainReport struct {
	RunID       string             `json:"run_id"`
	Artifact    string             `json:"artifact"`
	Checksum    string             `json:"checksum"`
	Size        int64              `json:"size"`
	NumFeatures int                `json:"num_features"`
	Threshold   float64            `json:"threshold"`
	Splits      map[string]int     `json:"splits"`
	Validation  *model.Performance `json:"validation,omitempty"`
	Test        *model.Performance `json:"test,omitempty"`
	Holdout     model.Performance  `json:"holdout"`
	Duration    string             `json:"duration"`
}

// runTrain trains on --data, evaluates on --holdout and writes --out. The
// run id is derived from the arguments, the seed and the bytes of both data
// files; the creation time is $SOURCE_DATE_EPOCH when set, else now, in
// whole seconds, so that SOURCE_DATE_EPOCH set to an artifact's creation
// time reproduces its bytes exactly.
func runTrain(ctx context.Context, argv []string, e env) error {
	fs := newFlagSet("train", "", e)
	data := fs.String("data", "", "training CSV (id,created_on,title,description,tag)")
	holdout := fs.String("holdout", "", "holdout CSV the artifact's performance report is computed on")
	out := fs.String("out", "", "artifact directory to write")
	argsPath := fs.String("args", "", "JSON file of training arguments overriding the defaults")
	seed := fs.Int64("seed", 42, "seed of the random generator")
	if done, err := parseFlags(fs, argv); done {
		return err
	}
	if *data == "" || *holdout == "" || *out == "" {
		return usageError(fs, e, "--data, --holdout and --out are required")
	}
	if fs.NArg() > 0 {
		return usageError(fs, e, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	createdAt := time.Now().UTC().Truncate(time.Second)
	if s := e.getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("train: SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		createdAt = time.Unix(sec, 0).UTC()
	}
	args, err := readArgs(*argsPath)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	examples, err := model.ReadCSV(*data)
	if err != nil {
		return err
	}
	held, err := model.ReadCSV(*holdout)
	if err != nil {
		return err
	}
	runID, err := runID(args, *seed, *data, *holdout)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}

	start := time.Now()
	res, err := model.Train(ctx, examples, args, *seed, func(epoch int, loss float64) {
		fmt.Fprintf(e.stderr, "epoch %3d/%d  loss %.6f\n", epoch, args.NumEpochs, loss)
	})
	if err != nil {
		return err
	}
	art := &model.Artifact{
		RunID: runID, CreatedAt: createdAt, Args: args,
		Performance: model.Evaluate(res.Classifier, held),
		Classifier:  res.Classifier,
		Baseline:    model.NewBaseline(res.Classifier, model.Texts(held), "holdout"),
	}
	if err := model.Save(*out, art); err != nil {
		return err
	}
	report := trainReport{
		RunID: runID, Artifact: *out + "/" + model.ArtifactFile, Checksum: art.Checksum, Size: art.Size,
		NumFeatures: res.Classifier.NumFeatures(), Threshold: res.Classifier.Threshold(),
		Splits:   map[string]int{"train": res.NumTrain, "val": res.NumVal, "test": res.NumTest, "holdout": len(held)},
		Holdout:  art.Performance,
		Duration: time.Since(start).Round(time.Millisecond).String(),
	}
	if res.NumVal > 0 {
		report.Validation = &res.Validation
	}
	if res.NumTest > 0 {
		report.Test = &res.Test
	}
	return writeJSON(e.stdout, report, true)
}

// runID is the first 16 bytes, in hex, of the SHA-256 of the arguments,
// the seed and the contents of the data files: the same inputs give the
// same id.
func runID(args model.Args, seed int64, files ...string) (string, error) {
	h := sha256.New()
	js, err := json.Marshal(args)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "%s\n%d\n", js, seed)
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// runEvaluate prints the performance report of the artifact on --data,
// with the fallback threshold active exactly as served (unless
// --no-fallback).
func runEvaluate(ctx context.Context, argv []string, e env) error {
	fs := newFlagSet("evaluate", "", e)
	dir := fs.String("artifacts", "artifacts", "artifact directory")
	data := fs.String("data", "", "CSV to evaluate on (id,created_on,title,description,tag)")
	noFallback := fs.Bool("no-fallback", false, "turn the fallback threshold off (for comparison; the server always applies it)")
	if done, err := parseFlags(fs, argv); done {
		return err
	}
	if *data == "" {
		return usageError(fs, e, "--data is required")
	}
	if fs.NArg() > 0 {
		return usageError(fs, e, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	art, err := model.Load(*dir)
	if err != nil {
		return err
	}
	examples, err := model.ReadCSV(*data)
	if err != nil {
		return err
	}
	c := art.Classifier
	if *noFallback {
		c = c.WithThreshold(0)
	}
	return writeJSON(e.stdout, model.Evaluate(c, examples), true)
}

// predictionJSON is one line of predict's output.
type predictionJSON struct {
	InputText              string             `json:"input_text"`
	PredictedTag           string             `json:"predicted_tag"`
	PredictedProbabilities map[string]float64 `json:"predicted_probabilities"`
}

// runPredict prints one JSON line per text argument: predicted by the
// artifact in --artifacts, or, with --url, by a tagifai server through the
// generated client.
func runPredict(ctx context.Context, argv []string, e env) error {
	fs := newFlagSet("predict", " TEXT...", e)
	dir := fs.String("artifacts", "artifacts", "artifact directory")
	serverURL := fs.String("url", "", "base URL of a tagifai server (http://HOST:PORT) to predict with instead of --artifacts")
	apiKey := fs.String("api-key", "", "with --url: API key to send, for a server run with --require-auth (default $TAGIFAI_API_KEY)")
	timeout := fs.Duration("timeout", 60*time.Second, "with --url: how long the request may take")
	if done, err := parseFlags(fs, argv); done {
		return err
	}
	if fs.NArg() == 0 {
		return usageError(fs, e, "give at least one TEXT")
	}
	if *serverURL != "" {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["artifacts"] {
			return usageError(fs, e, "--artifacts and --url exclude each other")
		}
		u, err := url.Parse(*serverURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError(fs, e, fmt.Sprintf("--url %q must be http://HOST:PORT or https://HOST:PORT", *serverURL))
		}
		if *timeout <= 0 {
			return usageError(fs, e, fmt.Sprintf("--timeout must be positive, got %s", *timeout))
		}
		key := *apiKey
		if key == "" {
			key = e.getenv("TAGIFAI_API_KEY")
		}
		return predictRemote(ctx, e, *serverURL, key, *timeout, fs.Args())
	}
	art, err := model.Load(*dir)
	if err != nil {
		return err
	}
	classes := art.Classifier.Classes()
	for i, p := range art.Classifier.PredictBatch(fs.Args()) {
		probs := make(map[string]float64, len(classes))
		for k, c := range classes {
			probs[c] = p.Probabilities[k]
		}
		line := predictionJSON{InputText: fs.Arg(i), PredictedTag: p.Tag, PredictedProbabilities: probs}
		if err := writeJSON(e.stdout, line, false); err != nil {
			return err
		}
	}
	return nil
}

// predictRemote asks the server at baseURL to tag texts, through POST
// /predict of the generated client, and prints one JSON line per text as
// the local predict does. An error response becomes an error that carries
// the status and each of the server's problems.
func predictRemote(ctx context.Context, e env, baseURL, apiKey string, timeout time.Duration, texts []string) error {
	opts := []gen.ClientOption{gen.WithHTTPClient(&http.Client{Timeout: timeout})}
	if apiKey != "" {
		opts = append(opts, gen.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+apiKey)
			return nil
		}))
	}
	client, err := gen.NewClientWithResponses(baseURL, opts...)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	body := gen.PredictRequest{Texts: make([]gen.TextInput, len(texts))}
	for i, t := range texts {
		body.Texts[i].Text = t
	}
	resp, err := client.PredictWithResponse(ctx, body)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	if resp.JSON200 == nil {
		return remoteError(resp.HTTPResponse, resp.Body)
	}
	preds := resp.JSON200.Data.Predictions
	if len(preds) != len(texts) {
		return fmt.Errorf("predict: %s answered %d predictions for %d texts", baseURL, len(preds), len(texts))
	}
	for _, p := range preds {
		line := predictionJSON{InputText: p.InputText, PredictedTag: p.PredictedTag, PredictedProbabilities: p.PredictedProbabilities}
		if err := writeJSON(e.stdout, line, false); err != nil {
			return err
		}
	}
	return nil
}

// remoteError describes an error response of a tagifai server: its status
// and the problems listed in the body's data.errors, each as
// "location: message (type)"; a body that is not the documented error
// envelope is quoted, cut to 200 bytes.
func remoteError(resp *http.Response, body []byte) error {
	where := resp.Request.Method + " " + resp.Request.URL.String()
	var envelope gen.ErrorEnvelope
	if err := json.Unmarshal(body, &envelope); err != nil || len(envelope.Data.Errors) == 0 {
		if len(body) > 200 {
			body = body[:200]
		}
		return fmt.Errorf("predict: %s: %s: %q", where, resp.Status, body)
	}
	problems := make([]string, len(envelope.Data.Errors))
	for i, p := range envelope.Data.Errors {
		problems[i] = p.Message + " (" + p.Type + ")"
		if len(p.Location) > 0 {
			problems[i] = strings.Join(p.Location, ".") + ": " + problems[i]
		}
	}
	return fmt.Errorf("predict: %s: %s: %s", where, resp.Status, strings.Join(problems, "; "))
}

// runCV prints the cross-validated F1 of training arguments on --data.
func runCV(ctx context.Context, argv []string, e env) error {
	fs := newFlagSet("cv", "", e)
	data := fs.String("data", "", "training CSV (id,created_on,title,description,tag)")
	argsPath := fs.String("args", "", "JSON file of training arguments overriding the defaults")
	folds := fs.Int("folds", 5, "number of stratified folds")
	seed := fs.Int64("seed", 42, "seed of the fold assignment and of training")
	if done, err := parseFlags(fs, argv); done {
		return err
	}
	if *data == "" {
		return usageError(fs, e, "--data is required")
	}
	args, err := readArgs(*argsPath)
	if err != nil {
		return fmt.Errorf("cv: %w", err)
	}
	examples, err := model.ReadCSV(*data)
	if err != nil {
		return err
	}
	res, err := model.CrossValidate(ctx, examples, args, *folds, *seed)
	if err != nil {
		return err
	}
	return writeJSON(e.stdout, res, true)
}

func writeJSON(w io.Writer, v any, indent bool) error {
	enc := json.NewEncoder(w)
	if indent {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}
