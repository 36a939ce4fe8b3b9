package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// runCLI runs the tagifai command line in-process.
func runCLI(t *testing.T, environ map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := env{getenv: func(k string) string { return environ[k] }, stdout: &out, stderr: &errOut}
	err = run(context.Background(), args, e)
	return out.String(), errOut.String(), err
}

// writeFixtureArgs writes training arguments that train fast on the
// fixture of model/testdata.
func writeFixtureArgs(t *testing.T) string {
	t.Helper()
	args := model.DefaultArgs()
	args.MinFreq = 5
	args.NgramMaxRange = 5
	args.NumEpochs = 10
	args.ValSize = 0.25
	args.ThresholdQuantile = 0.1
	js, err := json.Marshal(args)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "args.json")
	require.NoError(t, os.WriteFile(path, js, 0o644))
	return path
}

func TestCLITrainEvaluatePredict(t *testing.T) {
	t.Parallel()
	argsPath := writeFixtureArgs(t)
	out := filepath.Join(t.TempDir(), "artifacts")
	environ := map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}
	train := []string{"train", "--data", "model/testdata/train.csv", "--holdout", "model/testdata/holdout.csv",
		"--out", out, "--args", argsPath, "--seed", "3"}

	stdout, stderr, err := runCLI(t, environ, train...)
	require.NoError(t, err, stderr)
	assert.Equal(t, 10, strings.Count(stderr, "epoch "), "one progress line per epoch")
	var report struct {
		RunID    string            `json:"run_id"`
		Checksum string            `json:"checksum"`
		Holdout  model.Performance `json:"holdout"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &report))
	assert.Len(t, report.RunID, 32)
	assert.Equal(t, 12, report.Holdout.Overall.NumSamples)

	art, err := model.Load(out)
	require.NoError(t, err)
	assert.Equal(t, report.Checksum, art.Checksum)
	assert.Equal(t, report.RunID, art.RunID)
	assert.Equal(t, int64(1700000000), art.CreatedAt.Unix())
	assert.Equal(t, report.Holdout, art.Performance)

	t.Run("train again gives the same bytes", func(t *testing.T) {
		first, err := os.ReadFile(filepath.Join(out, model.ArtifactFile))
		require.NoError(t, err)
		_, stderr, err := runCLI(t, environ, train...)
		require.NoError(t, err, stderr)
		second, err := os.ReadFile(filepath.Join(out, model.ArtifactFile))
		require.NoError(t, err)
		assert.Equal(t, first, second)
	})

	t.Run("evaluate", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, nil, "evaluate", "--artifacts", out, "--data", "model/testdata/holdout.csv")
		require.NoError(t, err, stderr)
		var perf model.Performance
		require.NoError(t, json.Unmarshal([]byte(stdout), &perf))
		assert.Equal(t, art.Performance, perf, "the fallback is active as in training's report")
		assert.Contains(t, perf.Slices, "short_text")

		stdout, _, err = runCLI(t, nil, "evaluate", "--artifacts", out, "--data", "model/testdata/holdout.csv", "--no-fallback")
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal([]byte(stdout), &perf))
		assert.Equal(t, model.Evaluate(art.Classifier.WithThreshold(0), mustRead(t, "model/testdata/holdout.csv")), perf)
	})

	t.Run("predict", func(t *testing.T) {
		texts := []string{"Fine-tuning BERT transformers for question answering", "YOLO object detection in video frames"}
		stdout, stderr, err := runCLI(t, nil, append([]string{"predict", "--artifacts", out}, texts...)...)
		require.NoError(t, err, stderr)
		sc := bufio.NewScanner(strings.NewReader(stdout))
		var lines []map[string]any
		for sc.Scan() {
			var line map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
			lines = append(lines, line)
		}
		require.Len(t, lines, 2)
		for i, line := range lines {
			assert.Equal(t, texts[i], line["input_text"])
			assert.Equal(t, art.Classifier.Predict(texts[i]).Tag, line["predicted_tag"])
			probs, ok := line["predicted_probabilities"].(map[string]any)
			require.True(t, ok)
			assert.Len(t, probs, 4)
			assert.Contains(t, probs, "mlops")
		}
	})
}

func mustRead(t *testing.T, path string) []model.Example {
	t.Helper()
	examples, err := model.ReadCSV(path)
	require.NoError(t, err)
	return examples
}

func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"train without flags", []string{"train"}, "--data, --holdout and --out are required"},
		{"train unknown flag", []string{"train", "--epochs", "3"}, "flag provided but not defined: -epochs"},
		{"evaluate without data", []string{"evaluate"}, "--data is required"},
		{"predict without text", []string{"predict"}, "give at least one TEXT"},
		{"cv without data", []string{"cv"}, "--data is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := runCLI(t, nil, tt.args...)
			require.ErrorIs(t, err, errUsage)
			assert.Contains(t, stderr, tt.stderr)
			assert.Contains(t, stderr, "usage: tagifai "+tt.args[0])
		})
	}
	t.Run("help is not an error", func(t *testing.T) {
		_, stderr, err := runCLI(t, nil, "predict", "-h")
		require.NoError(t, err)
		assert.Contains(t, stderr, "-artifacts")
	})
}

func TestCLIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing data", []string{"evaluate", "--artifacts", "artifacts", "--data", "no-such.csv"}, "no-such.csv"},
		{"missing artifacts", []string{"predict", "--artifacts", "no-such-dir", "text"}, "model: load: "},
		{"bad args file", []string{"train", "--data", "model/testdata/train.csv", "--holdout", "model/testdata/holdout.csv",
			"--out", "unused", "--args", "model/testdata/train.csv"}, "train: args model/testdata/train.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, nil, tt.args...)
			require.Error(t, err)
			assert.NotErrorIs(t, err, errUsage)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// serveCommittedModel serves the committed model in artifacts/ on a real
// loopback listener until the test ends, demanding a predictor's key when
// requireAuth is set. It returns the base URL and the key of a predictor.
func serveCommittedModel(t *testing.T, requireAuth bool) (baseURL, key string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	store, err := registry.OpenSQLite(ctx, filepath.Join(dir, "registry.db"))
	require.NoError(t, err)
	reg, err := registry.New(store, filepath.Join(dir, "artifacts"), log)
	require.NoError(t, err)
	_, err = reg.ImportIfEmpty(ctx, "tagifai", "artifacts", "test")
	require.NoError(t, err)
	_, key, err = reg.CreateUser(ctx, "cli-test", registry.RolePredictor)
	require.NoError(t, err)
	svc, err := wire(serveConfig{modelName: "tagifai", requireAuth: requireAuth, batchWorkers: 1, replicaID: "test"}, store, reg, log)
	require.NoError(t, err)
	require.NoError(t, svc.serving.LoadServing(ctx))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- svc.run(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		store.Close()
	})
	return "http://" + ln.Addr().String(), key
}

// TestCLIPredictRemote: predict --url prints, line for line, what predict
// with the same model's artifacts prints, and turns an error response into
// an error that carries the server's problems.
func TestCLIPredictRemote(t *testing.T) {
	t.Parallel()
	texts := []string{
		"Transfer learning with transformers for text classification.",
		"Generative adversarial networks in both PyTorch and TensorFlow.",
		"Serving models with Kubernetes and monitoring drift in production",
	}
	local, stderr, err := runCLI(t, nil, append([]string{"predict", "--artifacts", "artifacts"}, texts...)...)
	require.NoError(t, err, stderr)
	require.Equal(t, len(texts), strings.Count(local, "\n"))

	open, _ := serveCommittedModel(t, false)
	locked, key := serveCommittedModel(t, true)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream is down", http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)

	t.Run("same lines as the local model", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, nil, append([]string{"predict", "--url", open}, texts...)...)
		require.NoError(t, err, stderr)
		assert.Equal(t, local, stdout)
	})
	t.Run("a trailing slash on the URL", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, nil, "predict", "--url", open+"/", texts[0])
		require.NoError(t, err, stderr)
		assert.Equal(t, strings.SplitAfter(local, "\n")[0], stdout)
	})
	t.Run("key from --api-key", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, nil, append([]string{"predict", "--url", locked, "--api-key", key}, texts...)...)
		require.NoError(t, err, stderr)
		assert.Equal(t, local, stdout)
	})
	t.Run("key from TAGIFAI_API_KEY", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, map[string]string{"TAGIFAI_API_KEY": key}, "predict", "--url", locked, texts[0])
		require.NoError(t, err, stderr)
		assert.Equal(t, strings.SplitAfter(local, "\n")[0], stdout)
	})

	errorCases := []struct {
		name    string
		environ map[string]string
		args    []string
		want    []string
	}{
		{"blank text is a 422", nil, []string{"--url", open, "fine text", "   "},
			[]string{"POST " + open + "/predict: 422 Unprocessable Entity: ", "body.texts.1.text: ", "(pattern)"}},
		{"text over 10,000 characters is a 422", nil, []string{"--url", open, strings.Repeat("a", 10001)},
			[]string{"422 Unprocessable Entity: ", "body.texts.0.text: ", "(too_long)"}},
		{"no key is a 401", nil, []string{"--url", locked, "text"},
			[]string{"401 Unauthorized: ", "(unauthorized)"}},
		{"unknown key is a 401", map[string]string{"TAGIFAI_API_KEY": "tgf_nope"}, []string{"--url", locked, "text"},
			[]string{"401 Unauthorized: ", "(unauthorized)"}},
		{"no server", nil, []string{"--url", "http://127.0.0.1:1", "text"},
			[]string{"predict: ", "connection refused"}},
		{"no such route", nil, []string{"--url", open + "/nope", "text"},
			[]string{"POST " + open + "/nope/predict: 404 Not Found: ", "(route_not_found)"}},
		{"not a tagifai server", nil, []string{"--url", proxy.URL, "text"},
			[]string{"POST " + proxy.URL + "/predict: 502 Bad Gateway: \"upstream is down\\n\""}},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runCLI(t, tt.environ, append([]string{"predict"}, tt.args...)...)
			require.Error(t, err)
			assert.NotErrorIs(t, err, errUsage)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.Empty(t, stdout, "nothing is printed for a failed request")
		})
	}

	usageCases := []struct {
		name string
		args []string
		want string
	}{
		{"URL without a scheme", []string{"--url", "localhost:8000", "text"}, "must be http://HOST:PORT"},
		{"URL of another scheme", []string{"--url", "ftp://localhost:8000", "text"}, "must be http://HOST:PORT"},
		{"both --url and --artifacts", []string{"--url", open, "--artifacts", "artifacts", "text"}, "exclude each other"},
		{"non-positive timeout", []string{"--url", open, "--timeout", "0s", "text"}, "--timeout must be positive"},
	}
	for _, tt := range usageCases {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := runCLI(t, nil, append([]string{"predict"}, tt.args...)...)
			require.ErrorIs(t, err, errUsage)
			assert.Contains(t, stderr, tt.want)
		})
	}
}
