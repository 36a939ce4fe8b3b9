package monitor

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testTags = []string{"computer-vision", "mlops", "natural-language-processing", "other"}

// fakeClock is an injectable clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// draw returns n observations from the "reference process": tags with
// shares 0.3, 0.1, 0.4, 0.2, confidence from a Beta-like law, lengths
// around 20 tokens, OOV rate around 0.2. shift moves every signal.
func draw(rng *rand.Rand, n int, tagShares []float64, shift float64) []Observation {
	out := make([]Observation, n)
	for i := range out {
		u := rng.Float64()
		tag := len(tagShares) - 1
		for k, acc := 0, 0.0; k < len(tagShares); k++ {
			acc += tagShares[k]
			if u < acc {
				tag = k
				break
			}
		}
		conf := min(max(0.75+0.1*rng.NormFloat64()-shift, 0.25), 1)
		out[i] = Observation{
			Tag: testTags[tag], Confidence: conf, Margin: conf / 2,
			Tokens:  int(20 + 5*rng.NormFloat64() - 30*shift),
			OOVRate: min(max(0.2+0.05*rng.NormFloat64()+shift, 0), 1),
		}
	}
	return out
}

func referenceOf(obs []Observation) *Reference {
	ref := &Reference{Tags: testTags, TagCounts: make([]int, len(testTags))}
	for _, o := range obs {
		for i, t := range testTags {
			if t == o.Tag {
				ref.TagCounts[i]++
			}
		}
		ref.Confidence = append(ref.Confidence, o.Confidence)
		ref.Margin = append(ref.Margin, o.Margin)
		ref.Tokens = append(ref.Tokens, float64(o.Tokens))
		ref.OOVRate = append(ref.OOVRate, o.OOVRate)
	}
	return ref
}

var shares = []float64{0.3, 0.1, 0.4, 0.2}

func newMonitor(t *testing.T, ref *Reference, cfg Config) (*Monitor, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	cfg.Now = clock.Now
	m, err := New(testTags, ref, cfg)
	require.NoError(t, err)
	return m, clock
}

// TestDrift: a window from the reference process shows no drift; windows
// of one tag only, of lower confidence and shorter texts, or of unknown
// words, each flag their own test.
func TestDrift(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	ref := referenceOf(draw(rng, 400, shares, 0))
	tests := []struct {
		name    string
		window  []Observation
		drifted map[string]bool
	}{
		{"in distribution", draw(rng, 300, shares, 0), map[string]bool{}},
		{"one class only", draw(rng, 300, []float64{0, 0, 1, 0}, 0), map[string]bool{"tag": true}},
		{"lower confidence, shorter texts, unknown words", draw(rng, 300, shares, 0.15),
			map[string]bool{"confidence": true, "tokens": true, "oov_rate": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, _ := newMonitor(t, ref, Config{})
			m.Observe(tt.window...)
			snap := m.Snapshot()
			require.Len(t, snap.Drift, 4)
			for _, r := range snap.Drift {
				assert.Equal(t, tt.drifted[r.Signal], r.Drifted, "%s: %+v", r.Signal, r)
				assert.Equal(t, 300, r.WindowSize)
				assert.True(t, r.Enough)
				if r.Test == TestThreshold {
					assert.Nil(t, r.PValue)
				} else {
					require.NotNil(t, r.PValue)
					assert.Equal(t, *r.PValue < 0.05, r.Drifted)
				}
			}
			assert.Equal(t, len(tt.drifted) > 0, snap.Drifted())
		})
	}
}

// TestDriftAgreesWithTheTests: the snapshot's statistics are those of
// ChiSquared and KolmogorovSmirnov on the same samples.
func TestDriftAgreesWithTheTests(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	ref := referenceOf(draw(rng, 200, shares, 0))
	window := draw(rng, 120, shares, 0.05)
	m, _ := newMonitor(t, ref, Config{})
	m.Observe(window...)
	snap := m.Snapshot()
	win := referenceOf(window)
	refCounts, winCounts := make([]float64, 5), make([]float64, 5)
	for i := range testTags {
		refCounts[i], winCounts[i] = float64(ref.TagCounts[i]), float64(win.TagCounts[i])
	}
	stat, p, dof := ChiSquared(refCounts, winCounts)
	assert.Equal(t, stat, snap.Drift[0].Statistic)
	assert.Equal(t, p, *snap.Drift[0].PValue)
	assert.Equal(t, dof, snap.Drift[0].DegreesOfFreedom)
	d, p := KolmogorovSmirnov(ref.Confidence, win.Confidence)
	assert.Equal(t, d, snap.Drift[1].Statistic)
	assert.Equal(t, p, *snap.Drift[1].PValue)
	d, p = KolmogorovSmirnov(ref.Tokens, win.Tokens)
	assert.Equal(t, d, snap.Drift[2].Statistic)
	assert.Equal(t, p, *snap.Drift[2].PValue)
	assert.InDelta(t, snap.Reference.OOVRate.Mean+0.1, snap.Drift[3].Threshold, 1e-15)
}

// TestWindowBounds: the ring keeps the last Capacity observations, the
// time window drops the old ones, and a narrower window takes the newest.
func TestWindowBounds(t *testing.T) {
	t.Parallel()
	m, clock := newMonitor(t, nil, Config{Capacity: 100, MaxAge: time.Hour})
	for i := range 250 {
		m.Observe(Observation{Tag: "mlops", Tokens: i})
	}
	snap := m.Snapshot()
	assert.Equal(t, 100, snap.Size)
	assert.Equal(t, uint64(250), snap.Total)
	assert.Equal(t, 199.5, snap.Window.Tokens.P50, "the last 100: tokens 150..249")
	assert.Equal(t, 1.0, snap.Window.TagShares["mlops"])
	assert.Nil(t, snap.Reference)
	assert.Empty(t, snap.Drift, "no reference, no tests")

	clock.Advance(59 * time.Minute)
	m.Observe(Observation{Tag: "other", Tokens: 1000}, Observation{Tag: "other", Tokens: 1000})
	assert.Equal(t, 100, m.Snapshot().Size)
	clock.Advance(2 * time.Minute)
	snap = m.Snapshot()
	assert.Equal(t, 2, snap.Size, "observations older than an hour are out")
	assert.Equal(t, clock.Now().Add(-2*time.Minute), snap.Start)
	assert.Equal(t, 1.0, snap.Window.TagShares["other"])

	narrow := m.SnapshotWindow(1, time.Hour)
	assert.Equal(t, 1, narrow.Size)
	clock.Advance(2 * time.Hour)
	assert.Zero(t, m.Snapshot().Size)
	assert.Zero(t, m.SnapshotWindow(1000, time.Hour).Size)
}

// TestTooFewSamples: tests run on small windows but flag nothing.
func TestTooFewSamples(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	m, _ := newMonitor(t, referenceOf(draw(rng, 200, shares, 0)), Config{MinSamples: 50})
	m.Observe(draw(rng, 49, []float64{1, 0, 0, 0}, 0.3)...)
	for _, r := range m.Snapshot().Drift {
		assert.False(t, r.Enough)
		assert.False(t, r.Drifted, r.Signal)
	}
}

// TestUnknownTags: a tag outside the monitor's is counted once, under "",
// and the tag set stays bounded.
func TestUnknownTags(t *testing.T) {
	t.Parallel()
	m, _ := newMonitor(t, nil, Config{})
	m.Observe(Observation{Tag: "mlops"}, Observation{Tag: "made-up-1"}, Observation{Tag: "made-up-2"}, Observation{Tag: "mlops"})
	snap := m.Snapshot()
	assert.Len(t, snap.Window.TagShares, len(testTags)+1)
	assert.Equal(t, 0.5, snap.Window.TagShares[""])
	assert.Equal(t, 0.5, snap.Window.TagShares["mlops"])
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		tags []string
		ref  *Reference
		cfg  Config
	}{
		"no tags":          {nil, nil, Config{}},
		"huge capacity":    {testTags, nil, Config{Capacity: MaxCapacity + 1}},
		"alpha 1":          {testTags, nil, Config{Alpha: 1}},
		"ragged reference": {testTags, &Reference{Tags: testTags, TagCounts: []int{1}}, Config{}},
	} {
		_, err := New(tc.tags, tc.ref, tc.cfg)
		assert.Error(t, err, name)
	}
}

// TestConcurrentObserve: Observe and Snapshot from many goroutines (run
// with -race) lose no observation.
func TestConcurrentObserve(t *testing.T) {
	t.Parallel()
	m, _ := newMonitor(t, referenceOf(draw(rand.New(rand.NewPCG(7, 8)), 100, shares, 0)), Config{Capacity: 10_000})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 50 {
				m.Observe(draw(rng, 10, shares, 0)...)
				_ = m.Snapshot()
			}
		}()
	}
	wg.Wait()
	snap := m.Snapshot()
	assert.Equal(t, 4000, snap.Size)
	assert.Equal(t, uint64(4000), snap.Total)
}

func BenchmarkObserve(b *testing.B) {
	m, err := New(testTags, nil, Config{})
	require.NoError(b, err)
	obs := Observation{Tag: "mlops", Confidence: 0.9, Margin: 0.5, Tokens: 20, OOVRate: 0.1}
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(obs)
	}
}

func BenchmarkSnapshot(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := New(testTags, referenceOf(draw(rng, 191, shares, 0)), Config{})
	require.NoError(b, err)
	m.Observe(draw(rng, 1000, shares, 0)...)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Snapshot()
	}
}
