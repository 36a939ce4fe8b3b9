package serving

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
)

// nlpPredictor tags every text natural-language-processing with
// probability 0.7, and tells nothing more of its predictions.
type nlpPredictor struct{}

var nlpClasses = []string{"computer-vision", "mlops", "natural-language-processing", "other"}

func (nlpPredictor) Classes() []string { return nlpClasses }

func (nlpPredictor) PredictBatch(texts []string) []model.Prediction {
	out := make([]model.Prediction, len(texts))
	for i := range texts {
		out[i] = model.Prediction{Tag: "natural-language-processing", Probabilities: []float64{0.1, 0.1, 0.7, 0.1}, Tokens: 3, NGrams: 10, KnownNGrams: 8, Features: 5}
	}
	return out
}

// TestRecorderBounds: recording never waits; beyond the predictions it may hold,
// or beyond its share of CPU, predictions are dropped and counted.
func TestRecorderBounds(t *testing.T) {
	t.Parallel()
	vm := newVersionMonitor(nlpPredictor{}, nil)
	require.NotNil(t, vm)
	r := newRecorder(DefaultMonitoringCPU)
	texts := make([]string, recorderPreds/2)
	for i := range texts {
		texts[i] = "a transformer"
	}
	preds := nlpPredictor{}.PredictBatch(texts)
	r.record(vm, preds)
	r.record(vm, preds)
	assert.Zero(t, r.dropped.Load())
	r.record(vm, preds[:1]) // one prediction too many
	assert.Equal(t, uint64(1), r.dropped.Load())

	assert.Zero(t, r.drain(0), "no budget: nothing observed")
	assert.Equal(t, uint64(1+recorderPreds), r.dropped.Load())
	assert.Zero(t, r.pending.Load())
	assert.Zero(t, vm.mon.Snapshot().Total)

	r.record(vm, preds[:3])
	r.drain(recorderPeriod)
	snap := vm.mon.Snapshot()
	assert.Equal(t, uint64(3), snap.Total)
	assert.Equal(t, 1.0, snap.Window.TagShares["natural-language-processing"])
	assert.InDelta(t, 0.7, snap.Window.Confidence.Mean, 1e-12, "a predictor that cannot tell more gives its confidence")

	r.record(nil, preds[:1]) // a version without monitor
	assert.Zero(t, r.pending.Load())
}
