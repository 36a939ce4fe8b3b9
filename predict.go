package main

import (
	"context"
	"fmt"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
)

func init() {
	commands["predict"] = command{summary: "tag texts with a model, one JSON line per text", run: runPredict}
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
	f := newFlags(e, "predict", " TEXT...", "Tag each TEXT with the artifact in --artifacts, or with a running server (--url); one JSON line per text.")
	dir := f.String("artifacts", "artifacts", "artifact directory")
	srv := addServerFlags(f, "", "base URL of a tagifai server (http://HOST:PORT) to predict with instead of --artifacts")
	if err := f.parse(argv, 1, -1); err != nil {
		return err
	}
	if f.onCommandLine("artifacts") && f.onCommandLine("url") {
		return f.usagef("--artifacts and --url exclude each other")
	}
	// --artifacts on the command line wins over a TAGIFAI_URL in the environment.
	if srv.url != "" && !f.onCommandLine("artifacts") {
		if err := srv.check(f); err != nil {
			return err
		}
		return predictRemote(ctx, e, srv, f.Args())
	}
	art, err := model.Load(*dir)
	if err != nil {
		return err
	}
	classes := art.Classifier.Classes()
	for i, p := range art.Classifier.PredictBatch(f.Args()) {
		probs := make(map[string]float64, len(classes))
		for k, c := range classes {
			probs[c] = p.Probabilities[k]
		}
		line := predictionJSON{InputText: f.Arg(i), PredictedTag: p.Tag, PredictedProbabilities: probs}
		if err := writeJSON(e.stdout, line, false); err != nil {
			return err
		}
	}
	return nil
}

// predictRemote asks the server to tag texts, through POST /predict of the
// generated client, and prints one JSON line per text as the local predict
// does. An error response becomes an error that carries the status and
// each of the server's problems.
func predictRemote(ctx context.Context, e env, srv *serverFlags, texts []string) error {
	client, err := srv.client()
	if err != nil {
		return err
	}
	body := gen.PredictRequest{Texts: make([]gen.TextInput, len(texts))}
	for i, t := range texts {
		body.Texts[i].Text = t
	}
	resp, err := client.PredictWithResponse(ctx, body)
	if err != nil {
		return err
	}
	if resp.JSON200 == nil {
		return remoteError(resp.HTTPResponse, resp.Body)
	}
	preds := resp.JSON200.Data.Predictions
	if len(preds) != len(texts) {
		return fmt.Errorf("%s answered %d predictions for %d texts", srv.url, len(preds), len(texts))
	}
	for _, p := range preds {
		line := predictionJSON{InputText: p.InputText, PredictedTag: p.PredictedTag, PredictedProbabilities: p.PredictedProbabilities}
		if err := writeJSON(e.stdout, line, false); err != nil {
			return err
		}
	}
	return nil
}
