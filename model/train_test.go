package model

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtureArgs trains fast on testdata/train.csv (48 examples).
func fixtureArgs() Args {
	a := DefaultArgs()
	a.MinFreq = 5
	a.NgramMaxRange = 5
	a.NumEpochs = 20
	a.ValSize = 0.25
	a.ThresholdQuantile = 0.25
	return a
}

func readFixture(t testing.TB, name string) []Example {
	t.Helper()
	examples, err := ReadCSV("testdata/" + name)
	require.NoError(t, err)
	return examples
}

func trainFixture(t testing.TB, args Args, seed int64) *TrainResult {
	t.Helper()
	res, err := Train(context.Background(), readFixture(t, "train.csv"), args, seed, nil)
	require.NoError(t, err)
	return res
}

func TestTrainFixture(t *testing.T) {
	var epochs []int
	res, err := Train(context.Background(), readFixture(t, "train.csv"), fixtureArgs(), 1, func(epoch int, loss float64) {
		epochs = append(epochs, epoch)
		assert.GreaterOrEqual(t, loss, 0.0)
	})
	require.NoError(t, err)
	assert.Len(t, epochs, 20)
	c := res.Classifier
	assert.Equal(t, []string{"computer-vision", "mlops", "natural-language-processing", "other"}, c.Classes())
	// 12 per class: 9 train, 3 validation (round(12·0.25)), 0 test.
	assert.Equal(t, 36, res.NumTrain)
	assert.Equal(t, 12, res.NumVal)
	assert.Equal(t, 0, res.NumTest)
	assert.Greater(t, c.Threshold(), 0.0)

	holdout := readFixture(t, "holdout.csv")
	perf := Evaluate(c.WithThreshold(0), holdout)
	assert.Equal(t, 12, perf.Overall.NumSamples)
	assert.GreaterOrEqual(t, perf.Overall.F1, 0.75)
	for _, name := range []string{"short_text", "nlp_cnn"} {
		assert.Contains(t, perf.Slices, name)
	}

	p := c.Predict("Fine-tuning BERT transformers for question answering over text")
	assert.Equal(t, "natural-language-processing", p.Tag)
	require.Len(t, p.Probabilities, 4)
	sum := 0.0
	for _, x := range p.Probabilities {
		sum += x
	}
	assert.InDelta(t, 1, sum, 1e-9)
}

func TestTrainLosses(t *testing.T) {
	for _, loss := range []string{LossLog, LossSoftmax, LossModifiedHuber} {
		t.Run(loss, func(t *testing.T) {
			args := fixtureArgs()
			args.Loss = loss
			args.LearningRate = 0.1
			args.WordNgramMaxRange = 2
			args.Schedule = "invscaling"
			res := trainFixture(t, args, 3)
			perf := Evaluate(res.Classifier.WithThreshold(0), readFixture(t, "holdout.csv"))
			assert.GreaterOrEqual(t, perf.Overall.F1, 0.75)
		})
	}
}

func TestTrainIsDeterministic(t *testing.T) {
	encode := func(seed int64) []byte {
		res := trainFixture(t, fixtureArgs(), seed)
		a := &Artifact{RunID: "run", CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Args: fixtureArgs(), Classifier: res.Classifier}
		var buf bytes.Buffer
		require.NoError(t, Encode(&buf, a))
		return buf.Bytes()
	}
	first := encode(7)
	assert.Equal(t, first, encode(7), "same data, args and seed")
	assert.NotEqual(t, first, encode(8), "another seed")
}

func TestTrainErrors(t *testing.T) {
	examples := readFixture(t, "train.csv")
	tests := []struct {
		name   string
		modify func(*Args)
		want   string
	}{
		{"bad loss", func(a *Args) { a.Loss = "hinge" }, `model: loss "hinge"`},
		{"bad split", func(a *Args) { a.ValSize, a.TestSize = 0.5, 0.5 }, "model: val_size"},
		{"bad ngram range", func(a *Args) { a.NgramMinRange = 9 }, "model: ngram range (9, 5)"},
		{"no features", func(a *Args) { a.NgramMaxRange, a.WordNgramMaxRange = 0, 0 }, "model: no features"},
		{"one class", func(a *Args) { a.MinFreq = 100 }, "model: need at least 2 classes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := fixtureArgs()
			tt.modify(&args)
			_, err := Train(context.Background(), examples, args, 1, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Train(ctx, examples, fixtureArgs(), 1, nil)
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestThresholdFallback(t *testing.T) {
	c := trainFixture(t, fixtureArgs(), 1).Classifier
	text := "Object detection with convolutional networks on video frames"
	p := c.WithThreshold(0).Predict(text)
	require.Equal(t, "computer-vision", p.Tag)
	winning := p.Probabilities[0]
	tests := []struct {
		name      string
		threshold float64
		want      string
	}{
		{"off", 0, "computer-vision"},
		{"below", winning - 1e-9, "computer-vision"},
		{"equal is not above", winning, "other"},
		{"above", winning + 1e-9, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.WithThreshold(tt.threshold).Predict(text)
			assert.Equal(t, tt.want, got.Tag)
			assert.Equal(t, p.Probabilities, got.Probabilities, "the fallback changes the tag only")
		})
	}
}

func TestPredictBatchMatchesPredict(t *testing.T) {
	c := trainFixture(t, fixtureArgs(), 1).Classifier
	texts := []string{"BERT for text", "", "YOLO object detection", "MLflow experiment tracking", "https://example.com"}
	batch := c.PredictBatch(texts)
	require.Len(t, batch, len(texts))
	for i, text := range texts {
		assert.Equal(t, c.Predict(text), batch[i], text)
	}
}

func TestPredictConcurrent(t *testing.T) {
	c := trainFixture(t, fixtureArgs(), 1).Classifier
	want := c.Predict("Pose estimation from images")
	done := make(chan Prediction)
	for range 8 {
		go func() {
			var p Prediction
			for range 50 {
				p = c.Predict("Pose estimation from images")
			}
			done <- p
		}()
	}
	for range 8 {
		assert.Equal(t, want, <-done)
	}
}

func TestStratifiedSplit(t *testing.T) {
	examples := readFixture(t, "train.csv")
	args := fixtureArgs()
	args.ValSize, args.TestSize = 0.15, 0.15
	res, err := Train(context.Background(), examples, args, 1, nil)
	require.NoError(t, err)
	// Per class of 12: round(1.8) = 2 validation, 2 test, 8 train.
	assert.Equal(t, 32, res.NumTrain)
	assert.Equal(t, 8, res.NumVal)
	assert.Equal(t, 8, res.NumTest)
	assert.Equal(t, 8, res.Test.Overall.NumSamples)
}

func TestCrossValidate(t *testing.T) {
	args := fixtureArgs()
	args.ValSize, args.ThresholdQuantile = 0, 0
	res, err := CrossValidate(context.Background(), readFixture(t, "train.csv"), args, 3, 1)
	require.NoError(t, err)
	require.Len(t, res.Folds, 3)
	for _, f := range res.Folds {
		assert.Equal(t, 16, f.Overall.NumSamples)
	}
	assert.Equal(t, res.F1, res.F1NoFallback, "no threshold, no fallback")
	assert.Greater(t, res.F1, 0.7)
}
