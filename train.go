package main

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tagifai/tagifai/model"
)

func init() {
	commands["train"] = command{summary: "train a model and write its artifact directory", run: runTrain}
	commands["evaluate"] = command{summary: "print a model's performance report on a CSV file", run: runEvaluate}
	commands["cv"] = command{summary: "cross-validate training arguments on a CSV file", run: runCV}
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

// trainReport is what train prints on stdout. Checksum is the hex SHA-256
// of the artifact file, what `sha256sum` prints and what the registry and
// the API call the version's checksum.
type trainReport struct {
	RunID       string             `json:"run_id"`
	Artifact    string             `json:"artifact"`
	Checksum    string             `json:"checksum"`
	Size        int64              `json:"size_bytes"`
	CreatedAt   time.Time          `json:"created_at"`
	NumFeatures int                `json:"num_features"`
	Threshold   float64            `json:"threshold"`
	Splits      map[string]int     `json:"splits"`
	Validation  *model.Performance `json:"validation,omitempty"`
	Test        *model.Performance `json:"test,omitempty"`
	Holdout     model.Performance  `json:"holdout"`
	Duration    string             `json:"duration"`
}

// runTrain trains on --data, evaluates on --holdout and writes --out. The
// artifact depends only on the data, the arguments and the seed, so the
// same inputs give the same bytes: the run id is derived from all three,
// and the creation time from the data (dataTime).
func runTrain(ctx context.Context, argv []string, e env) error {
	f := newFlags(e, "train", "", "Train a model on --data, evaluate it on --holdout and write the artifact directory --out. "+
		"The same data, args and seed give a byte-identical artifact.")
	data := f.String("data", "", "training CSV (id,created_on,title,description,tag) (required)")
	holdout := f.String("holdout", "", "holdout CSV the artifact's performance report is computed on (required)")
	out := f.String("out", "", "artifact directory to write (required)")
	argsPath := f.String("args", "", "JSON file of training arguments overriding the defaults")
	seed := f.Int64("seed", 42, "seed of the random generator")
	if err := f.parse(argv, 0, 0); err != nil {
		return err
	}
	if *data == "" || *holdout == "" || *out == "" {
		return f.usagef("--data, --holdout and --out are required")
	}
	args, err := readArgs(*argsPath)
	if err != nil {
		return err
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
		return err
	}
	createdAt, err := dataTime(*data, *holdout)
	if err != nil {
		return err
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
	path := filepath.Join(*out, model.ArtifactFile)
	sum, size, err := fileSHA256(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s: %d bytes, checksum (sha256) %s\n", path, size, sum)
	report := trainReport{
		RunID: runID, Artifact: path, Checksum: sum, Size: size, CreatedAt: createdAt,
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

// fileSHA256 returns the hex SHA-256 of the file at path, as sha256sum
// prints it, and its size.
func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
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

// createdOnLayouts are the forms of created_on that dataTime reads.
var createdOnLayouts = []string{"2006-01-02 15:04:05", time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"}

// dataTime is the artifact's creation time: the newest created_on of the
// projects in files, in UTC whole seconds, so that it says how recent the
// data the model learned from is and retraining on the same data gives the
// same bytes. Files without a created_on column, or without a value it can
// read, give the Unix epoch.
func dataTime(files ...string) (time.Time, error) {
	newest := time.Unix(0, 0).UTC()
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return newest, err
		}
		r := csv.NewReader(f)
		r.ReuseRecord = true
		r.FieldsPerRecord = -1
		col := -1
		for line := 0; ; line++ {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return newest, fmt.Errorf("%s: %w", name, err)
			}
			if line == 0 {
				for i, h := range rec {
					if strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) == "created_on" {
						col = i
					}
				}
				if col < 0 {
					break
				}
				continue
			}
			if col >= len(rec) {
				continue
			}
			for _, layout := range createdOnLayouts {
				if t, err := time.Parse(layout, strings.TrimSpace(rec[col])); err == nil {
					if t = t.UTC().Truncate(time.Second); t.After(newest) {
						newest = t
					}
					break
				}
			}
		}
		f.Close()
	}
	return newest, nil
}

// runEvaluate prints the performance report of the artifact on --data,
// with the fallback threshold active exactly as served (unless
// --no-fallback).
func runEvaluate(ctx context.Context, argv []string, e env) error {
	f := newFlags(e, "evaluate", "", "Print the performance report of an artifact on a CSV file, with the fallback threshold active as served.")
	dir := f.String("artifacts", "artifacts", "artifact directory")
	data := f.String("data", "", "CSV to evaluate on (id,created_on,title,description,tag) (required)")
	noFallback := f.Bool("no-fallback", false, "turn the fallback threshold off (for comparison; the server always applies it)")
	if err := f.parse(argv, 0, 0); err != nil {
		return err
	}
	if *data == "" {
		return f.usagef("--data is required")
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

// runCV prints the cross-validated F1 of training arguments on --data.
func runCV(ctx context.Context, argv []string, e env) error {
	f := newFlags(e, "cv", "", "Print the cross-validated F1 of training arguments on a CSV file.")
	data := f.String("data", "", "training CSV (id,created_on,title,description,tag) (required)")
	argsPath := f.String("args", "", "JSON file of training arguments overriding the defaults")
	folds := f.Int("folds", 5, "number of stratified folds")
	seed := f.Int64("seed", 42, "seed of the fold assignment and of training")
	if err := f.parse(argv, 0, 0); err != nil {
		return err
	}
	if *data == "" {
		return f.usagef("--data is required")
	}
	if *folds < 2 {
		return f.usagef("--folds must be at least 2, got %d", *folds)
	}
	args, err := readArgs(*argsPath)
	if err != nil {
		return err
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
