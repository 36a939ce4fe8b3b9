package serving

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/registry"
)

// TestShadowQueueNeverBlocks: with no worker taking the queue (Run is not
// running), a shadow rollout queues ShadowQueueSize requests, then drops
// and counts the rest, and every report returns at once.
func TestShadowQueueNeverBlocks(t *testing.T) {
	t.Parallel()
	store, reg := testRegistry(t)
	ctx := context.Background()
	m := New(Config{Model: modelName, Store: store, Artifacts: reg})
	require.NoError(t, m.LoadServing(ctx))
	_, _, err := store.StartRollout(ctx, registry.Rollout{Model: modelName, Candidate: 2, Mode: registry.ModeShadow, Percent: 100})
	require.NoError(t, err)
	require.NoError(t, m.SyncRollout(ctx))
	require.True(t, m.RolloutRunning())

	const requests = ShadowQueueSize + 100
	for range requests {
		v, err := m.Route(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, v.Version, "a shadow never answers")
		m.ReportRouted(v, []string{"a CNN"}, []string{"computer-vision"}, time.Microsecond)
	}
	r, err := store.Rollout(ctx, modelName)
	require.NoError(t, err)
	st := m.RolloutStats(r)
	require.NotNil(t, st)
	require.NotNil(t, st.Shadow)
	assert.EqualValues(t, requests, st.Shadow.Sampled)
	assert.EqualValues(t, 100, st.Shadow.Dropped)
	assert.EqualValues(t, requests, st.Serving.Requests)
	assert.Equal(t, map[string]int64{"computer-vision": requests}, st.Serving.Tags)
	assert.Nil(t, st.Shadow.AgreementRate, "nothing compared yet")

	// The abort stops the rollout here; its figures stay readable.
	_, err = store.EndRollout(ctx, modelName, "test", false)
	require.NoError(t, err)
	require.NoError(t, m.SyncRollout(ctx))
	assert.False(t, m.RolloutRunning())
	r, err = store.Rollout(ctx, modelName)
	require.NoError(t, err)
	assert.NotNil(t, m.RolloutStats(r))
}

// TestCanaryBuckets: a caller's bucket is the same at every call and on
// every replica (it depends on nothing but the model, the candidate and the
// caller), and callers spread evenly over the buckets.
func TestCanaryBuckets(t *testing.T) {
	t.Parallel()
	assert.Equal(t, bucket("tagifai", 2, "user:ci-bot"), bucket("tagifai", 2, "user:ci-bot"))
	for _, tc := range []struct {
		percent   float64
		lo, hi    int // of 20,000 callers
		threshold uint64
	}{
		{0, 0, 0, 0},
		{1, 140, 260, 100},
		{20, 3700, 4300, 2000},
		{50, 9600, 10400, 5000},
		{100, 20000, 20000, 10000},
	} {
		t.Run(fmt.Sprint(tc.percent), func(t *testing.T) {
			th := thresholdOf(tc.percent)
			assert.Equal(t, tc.threshold, th)
			in := 0
			for i := range 20000 {
				if bucket("tagifai", 2, fmt.Sprintf("key:caller-%d", i)) < th {
					in++
				}
			}
			assert.GreaterOrEqual(t, in, tc.lo)
			assert.LessOrEqual(t, in, tc.hi)
		})
	}
}

// TestLatencyQuantiles: quantiles are the upper bounds of power-of-two
// microsecond buckets, and the mean is exact.
func TestLatencyQuantiles(t *testing.T) {
	t.Parallel()
	var h latencyHistogram
	assert.Zero(t, h.quantileMS(0.5))
	for _, d := range []time.Duration{time.Microsecond, 3 * time.Microsecond, 3 * time.Microsecond, 100 * time.Microsecond} {
		h.observe(d)
	}
	assert.InDelta(t, 0.004, h.quantileMS(0.5), 1e-12)  // 3 µs is in (2, 4]
	assert.InDelta(t, 0.128, h.quantileMS(0.99), 1e-12) // 100 µs is in (64, 128]
	assert.InDelta(t, 0.001, h.quantileMS(0.25), 1e-12)
	assert.InDelta(t, 0.02675, h.meanMS(), 1e-12)
}
