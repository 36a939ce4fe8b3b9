package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// TestRecorderBounds: recording never waits; beyond the predictions it may hold,
// or beyond its share of CPU, predictions are dropped and counted.
func TestRecorderBounds(t *testing.T) {
	t.Parallel()
	vm := newVersionMonitor(fakePredictor{}, nil)
	require.NotNil(t, vm)
	r := newRecorder(DefaultMonitoringCPU)
	texts := make([]string, recorderPreds/2)
	for i := range texts {
		texts[i] = "a transformer"
	}
	preds := fakePredictor{}.PredictBatch(texts)
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

// TestMonitoringWithoutBaseline: a version whose artifact predates
// baselines says so and has no drift tests, its window summarised all the
// same; the serving version comes first.
func TestMonitoringWithoutBaseline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "registry.db")
	s := newMonitoredReplica(t, func() (registry.Store, error) { return registry.OpenSQLite(ctx, path) }, committedArtifactDir)
	old, err := os.ReadFile(filepath.Join("..", "model", "testdata", "format1.tagifai"))
	require.NoError(t, err)
	art, err := model.Decode(strings.NewReader(string(old)))
	require.NoError(t, err)
	require.Nil(t, art.Baseline)
	_, _, err = s.reg.Upload(ctx, DefaultModelName, 2, old, "test")
	require.NoError(t, err)
	s.predict(t, "/models/tagifai/versions/2/predictions", []string{"A transformer for text", "Object detection"})

	var resp gen.MonitoringEnvelope
	s.call(t, request{method: "GET", path: "/monitoring?version=2"}, "viewer", http.StatusOK, &resp)
	require.Len(t, resp.Data.Versions, 2)
	serving, named := resp.Data.Versions[0], resp.Data.Versions[1]
	assert.True(t, serving.Serving)
	assert.Equal(t, 1, serving.Version)
	assert.True(t, serving.HasBaseline)
	assert.False(t, named.Serving)
	assert.Equal(t, 2, named.Version)
	assert.False(t, named.HasBaseline)
	assert.Empty(t, named.Drift)
	assert.Nil(t, named.Signals.Baseline)
	assert.False(t, named.Drifted)
	require.Eventually(t, func() bool {
		s.call(t, request{method: "GET", path: "/monitoring?version=2"}, "viewer", http.StatusOK, &resp)
		return resp.Data.Versions[1].Window.Observed == 2
	}, 20*time.Second, 10*time.Millisecond)
	assert.Equal(t, 2, resp.Data.Versions[1].Signals.Window.Count)
}
