package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
)

// isUsage reports whether err is a usage error (exit 2).
func isUsage(err error) bool {
	var ue *usageError
	return errors.As(err, &ue)
}

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
	var environ map[string]string
	train := []string{"train", "--data", "model/testdata/train.csv", "--holdout", "model/testdata/holdout.csv",
		"--out", out, "--args", argsPath, "--seed", "3"}

	stdout, stderr, err := runCLI(t, environ, train...)
	require.NoError(t, err, stderr)
	assert.Equal(t, 10, strings.Count(stderr, "epoch "), "one progress line per epoch")
	var report struct {
		RunID     string            `json:"run_id"`
		Checksum  string            `json:"checksum"`
		CreatedAt time.Time         `json:"created_at"`
		Holdout   model.Performance `json:"holdout"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &report))
	assert.Len(t, report.RunID, 32)
	assert.Equal(t, 12, report.Holdout.Overall.NumSamples)

	art, err := model.Load(out)
	require.NoError(t, err)
	file, err := os.ReadFile(filepath.Join(out, model.ArtifactFile))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("%x", sha256.Sum256(file)), report.Checksum, "the checksum is the file's SHA-256, as sha256sum prints it")
	assert.Contains(t, stderr, "checksum (sha256) "+report.Checksum)
	assert.Equal(t, report.RunID, art.RunID)
	assert.Equal(t, time.Date(2020, 3, 9, 10, 0, 0, 0, time.UTC), art.CreatedAt, "the creation time is the newest created_on of the data")
	assert.Equal(t, art.CreatedAt, report.CreatedAt)
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
