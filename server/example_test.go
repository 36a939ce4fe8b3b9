package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tagifai/tagifai/batch"
	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/server"
	"github.com/tagifai/tagifai/serving"
)

// startExampleServer serves the committed model (../artifacts) the way
// `tagifai serve` does, on a real listener on a free loopback port, through
// the exported API only: a SQLite registry in a scratch directory, the
// model imported as version 1, the serving lifecycle and a batch runner
// (neither started: the examples need neither's background work),
// server.New, LoadServing and Serve. It
// returns the server's base URL and a function that shuts it down and
// removes the scratch directory.
func startExampleServer() (baseURL string, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	dir, err := os.MkdirTemp("", "tagifai-example-")
	if err != nil {
		panic(err)
	}
	log := slog.New(slog.DiscardHandler)
	store, err := registry.OpenSQLite(ctx, filepath.Join(dir, "registry.db"))
	if err != nil {
		panic(err)
	}
	reg, err := registry.New(store, filepath.Join(dir, "artifacts"), log)
	if err != nil {
		panic(err)
	}
	if _, err := reg.ImportIfEmpty(ctx, "tagifai", "../artifacts", "example"); err != nil {
		panic(err)
	}
	metrics := server.NewMetrics()
	mgr := serving.New(serving.Config{Model: "tagifai", Store: store, Artifacts: reg, Observer: metrics.Serving(), Logger: log})
	runner := batch.NewRunner(store, func(ctx context.Context, name string, version int) (batch.Classifier, error) {
		v, err := mgr.Named(ctx, name, version)
		if err != nil {
			return nil, err
		}
		return v.Predictor, nil
	}, log, metrics.Batch(), 1, "example")
	srv, err := server.New(server.Config{Logger: log, Store: store, Registry: reg, Serving: mgr, Batch: runner, Metrics: metrics})
	if err != nil {
		panic(err)
	}
	if err := mgr.LoadServing(ctx); err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()
	return "http://" + ln.Addr().String(), func() {
		// The examples' clients are done: a server shutting down as a lame
		// duck need not wait for their idle connections.
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			panic(err)
		}
		store.Close()
		os.RemoveAll(dir)
	}
}

// The generated client tags two projects: one prediction per text, in the
// order sent, each with its tag and the probability of every class.
func Example_predict() {
	baseURL, stop := startExampleServer()
	defer stop()

	client, err := gen.NewClientWithResponses(baseURL)
	if err != nil {
		panic(err)
	}
	resp, err := client.PredictWithResponse(context.Background(), gen.PredictRequest{Texts: []gen.TextInput{
		{Text: "Transfer learning with transformers for text classification."},
		{Text: "Generative adversarial networks in both PyTorch and TensorFlow."},
	}})
	if err != nil {
		panic(err)
	}
	if resp.JSON200 == nil {
		panic(fmt.Sprintf("status %d: %s", resp.StatusCode(), resp.Body))
	}
	fmt.Printf("model %s version %d\n", resp.JSON200.Data.Model, resp.JSON200.Data.Version)
	for _, p := range resp.JSON200.Data.Predictions {
		fmt.Printf("%s -> %s (p=%.2f)\n", p.InputText, p.PredictedTag, p.PredictedProbabilities[p.PredictedTag])
	}
	// Output:
	// model tagifai version 1
	// Transfer learning with transformers for text classification. -> natural-language-processing (p=1.00)
	// Generative adversarial networks in both PyTorch and TensorFlow. -> computer-vision (p=1.00)
}

// The generated client reads the serving model's performance: overall, and
// per class with filter=class.
func Example_performance() {
	baseURL, stop := startExampleServer()
	defer stop()

	client, err := gen.NewClientWithResponses(baseURL)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	overall := gen.Overall
	resp, err := client.GetPerformanceWithResponse(ctx, &gen.GetPerformanceParams{Filter: &overall})
	if err != nil {
		panic(err)
	}
	if resp.JSON200 == nil || resp.JSON200.Data.Performance.Overall == nil {
		panic(fmt.Sprintf("status %d: %s", resp.StatusCode(), resp.Body))
	}
	m := resp.JSON200.Data.Performance.Overall
	fmt.Printf("overall: f1 %.3f, precision %.3f, recall %.3f on %d samples\n", m.F1, m.Precision, m.Recall, m.NumSamples)

	class := gen.Class
	resp, err = client.GetPerformanceWithResponse(ctx, &gen.GetPerformanceParams{Filter: &class})
	if err != nil {
		panic(err)
	}
	if resp.JSON200 == nil || resp.JSON200.Data.Performance.Class == nil {
		panic(fmt.Sprintf("status %d: %s", resp.StatusCode(), resp.Body))
	}
	byClass := *resp.JSON200.Data.Performance.Class
	names := make([]string, 0, len(byClass))
	for name := range byClass {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Printf("%s: f1 %.3f on %d samples\n", name, byClass[name].F1, byClass[name].NumSamples)
	}
	// Output:
	// overall: f1 0.917, precision 0.919, recall 0.916 on 191 samples
	// computer-vision: f1 0.929 on 71 samples
	// mlops: f1 0.848 on 16 samples
	// natural-language-processing: f1 0.912 on 78 samples
	// other: f1 0.939 on 26 samples
}

// A request that breaks the schema is a 422 whose body lists the problems,
// each with where it is, what is wrong for a person, and a type for a
// program; the generated client decodes it into JSON422.
func Example_validationError() {
	baseURL, stop := startExampleServer()
	defer stop()

	client, err := gen.NewClientWithResponses(baseURL)
	if err != nil {
		panic(err)
	}
	resp, err := client.PredictWithResponse(context.Background(), gen.PredictRequest{Texts: []gen.TextInput{}})
	if err != nil {
		panic(err)
	}
	if resp.JSON422 == nil {
		panic(fmt.Sprintf("status %d: %s", resp.StatusCode(), resp.Body))
	}
	fmt.Println(resp.StatusCode(), resp.JSON422.Message)
	for _, p := range resp.JSON422.Data.Errors {
		fmt.Printf("%s: %s (%s)\n", strings.Join(p.Location, "."), p.Message, p.Type)
	}
	// Output:
	// 422 Unprocessable Entity
	// body.texts: must have at least 1 item (too_few)
}
