package serving

import (
	"context"
	"fmt"
	"testing"
	"time"

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

// TestDeploymentsKeepMonitoringWindows: deploying another version, and
// deploying the serving version again, keep each version's window of
// predictions (a rollback must not wipe the drift that prompted it); a
// version uploaded again with other bytes starts afresh.
func TestDeploymentsKeepMonitoringWindows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, reg := testRegistry(t)
	m := New(Config{Model: modelName, Store: store, Artifacts: reg, MonitoringCPU: 1})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx) }()
	defer func() { stop(); require.NoError(t, <-done) }()

	window := func(v *Version) int { return m.Monitoring(v).Snapshot.Size }
	predict := func(n int) *Version {
		v := m.Current()
		texts := make([]string, n)
		for i := range texts {
			texts[i] = fmt.Sprintf("Object detection with YOLO, part %d", i)
		}
		m.Report(v, v.Predictor.PredictBatch(texts))
		return v
	}
	require.NoError(t, m.LoadServing(ctx))
	v1 := predict(30)
	require.Eventually(t, func() bool { return window(v1) == 30 }, 10*time.Second, time.Millisecond)

	require.NoError(t, m.Deploy(ctx, modelName, 2))
	v2 := predict(5)
	require.Eventually(t, func() bool { return window(v2) == 5 }, 10*time.Second, time.Millisecond)
	require.NoError(t, m.Deploy(ctx, modelName, 2)) // the serving version again
	assert.Equal(t, 5, window(m.Current()), "deploying the serving version again keeps its window")
	require.NoError(t, m.Deploy(ctx, modelName, 1)) // a rollback
	assert.Equal(t, 30, window(m.Current()), "rolling back goes on with the version's window")
	named, err := m.Named(ctx, modelName, 2)
	require.NoError(t, err)
	assert.Equal(t, 5, window(named), "a version named by a request has its window")

	// Version 2 deleted and uploaded again with other bytes: another model.
	require.NoError(t, reg.Delete(ctx, modelName, 2))
	m.Forget(modelName, 2)
	_, _, err = reg.Upload(ctx, modelName, 2, committedAs(t, "third-run"), "test")
	require.NoError(t, err)
	require.NoError(t, m.Deploy(ctx, modelName, 2))
	assert.Equal(t, "third-run", m.Current().RunID)
	assert.Equal(t, 0, window(m.Current()), "other bytes under the same number start afresh")
}
