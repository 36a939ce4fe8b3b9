package serving

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
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

const modelName = "tagifai"

// testRegistry opens a SQLite registry in a temporary directory holding
// the committed model (../artifacts) as version 1, serving, and the same
// model under another run id as version 2.
func testRegistry(t *testing.T) (*registry.SQLStore, *registry.Registry) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := registry.OpenSQLite(ctx, filepath.Join(dir, "registry.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	reg, err := registry.New(store, filepath.Join(dir, "artifacts"), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	_, err = reg.ImportIfEmpty(ctx, modelName, "../artifacts", "test")
	require.NoError(t, err)

	_, _, err = reg.Upload(ctx, modelName, 2, committedAs(t, "second-run"), "test")
	require.NoError(t, err)
	return store, reg
}

// committedAs returns the committed model's artifact under another run id:
// the same model, other bytes.
func committedAs(t *testing.T, runID string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../artifacts", model.ArtifactFile))
	require.NoError(t, err)
	art, err := model.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	art.RunID = runID
	var out bytes.Buffer
	require.NoError(t, model.Encode(&out, art))
	return out.Bytes()
}

// storedPred is a stored prediction of item by version, with a
// probability for each of the committed model's classes.
func storedPred(version int, item, tag string) registry.StoredPrediction {
	probs := map[string]float64{"computer-vision": 0.125, "mlops": 0.125, "natural-language-processing": 0.125, "other": 0.125}
	probs[tag] = 0.625
	return registry.StoredPrediction{Model: modelName, Version: version, ItemID: item,
		TextSHA256: fmt.Sprintf("%064x", version*1000+len(item)), Tag: tag, Probabilities: probs,
		CreatedAt: time.Unix(1700000000, 123456789).UTC()}
}

// TestStoredCacheWarming: a version that starts serving gets its stored
// predictions read into its cache, up to the cache's size.
func TestStoredCacheWarming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		stored   int
		capacity int
		want     int
	}{
		{name: "all fit", stored: 2500, capacity: 10_000, want: 2500},
		{name: "bounded", stored: 2500, capacity: 1200, want: 1200},
		{name: "none stored", stored: 0, capacity: 100, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store, reg := testRegistry(t)
			var preds []registry.StoredPrediction
			for i := range tc.stored {
				preds = append(preds, storedPred(2, fmt.Sprintf("item%05d", i), "mlops"))
			}
			if len(preds) > 0 {
				_, err := store.SavePredictions(ctx, preds)
				require.NoError(t, err)
			}
			m := New(Config{Model: modelName, Store: store, Artifacts: reg, StoredCacheItems: tc.capacity})
			require.NoError(t, m.Deploy(ctx, modelName, 2))

			cache := <-m.warm // what Run's warmer would fill next
			require.Same(t, m.stored.Load(), cache)
			require.Equal(t, 2, cache.owner.Version)
			m.warmStored(ctx, cache)
			assert.Equal(t, tc.want, cache.len(), "warming stops at the cache's size")
			for i := range tc.stored {
				id := fmt.Sprintf("item%05d", i)
				if got, ok := cache.get(id); ok {
					assert.Equal(t, storedPred(2, id, "mlops"), got)
				}
			}
		})
	}
}

// TestRunWarmsTheServingVersion: Run fills the cache of a version that
// starts serving while it runs, and lookups are then answered from memory.
func TestRunWarmsTheServingVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, reg := testRegistry(t)
	_, err := store.SavePredictions(ctx, []registry.StoredPrediction{storedPred(2, "a", "mlops"), storedPred(2, "b", "other")})
	require.NoError(t, err)
	lookups := &countingObserver{}
	m := New(Config{Model: modelName, Store: store, Artifacts: reg, StoredCacheItems: 10, Observer: lookups})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx) }()
	require.NoError(t, m.Deploy(ctx, modelName, 2))
	cache := m.stored.Load()
	require.Eventually(t, func() bool { return cache.len() == 2 }, 10*time.Second, time.Millisecond)
	p, err := m.StoredPrediction(ctx, m.Current(), "b")
	require.NoError(t, err)
	assert.Equal(t, storedPred(2, "b", "other"), p)
	assert.Equal(t, [2]int{1, 0}, lookups.lookups(), "one hit, no miss")
	stop()
	require.NoError(t, <-done)
}

// countingObserver counts stored-prediction lookups.
type countingObserver struct {
	nopObserver
	hits, misses int
}

func (o *countingObserver) StoredLookup(hit bool) {
	if hit {
		o.hits++
	} else {
		o.misses++
	}
}

func (o *countingObserver) lookups() [2]int { return [2]int{o.hits, o.misses} }

// fixedClasses is a Predictor with classes only.
type fixedClasses []string

func (c fixedClasses) Classes() []string                        { return c }
func (c fixedClasses) PredictBatch([]string) []model.Prediction { return nil }

func TestStoredCache(t *testing.T) {
	t.Parallel()
	owner := &Version{Info: Info{Name: modelName, Version: 1},
		Predictor: fixedClasses{"computer-vision", "mlops", "natural-language-processing", "other"}}

	t.Run("round trip", func(t *testing.T) {
		c := newStoredCache(owner, 10)
		p := storedPred(1, "x", "natural-language-processing")
		c.put(p)
		got, ok := c.get("x")
		require.True(t, ok)
		assert.Equal(t, p, got)
		_, ok = c.get("y")
		assert.False(t, ok)
	})

	t.Run("bounded", func(t *testing.T) {
		c := newStoredCache(owner, 3)
		for i := range 10 {
			c.put(storedPred(1, fmt.Sprintf("item%d", i), "mlops"))
		}
		assert.Equal(t, 3, c.len())
		c.put(storedPred(1, "item9", "mlops"))
		assert.Equal(t, 3, c.len(), "an entry put again takes no more room")
		found := 0
		for i := range 10 {
			id := fmt.Sprintf("item%d", i)
			if got, ok := c.get(id); ok {
				found++
				assert.Equal(t, storedPred(1, id, "mlops"), got)
			}
		}
		assert.Equal(t, 3, found)
	})

	// Rows the compact form cannot give back exactly are not kept.
	odd := []struct {
		name   string
		mutate func(*registry.StoredPrediction)
	}{
		{"other version", func(p *registry.StoredPrediction) { p.Version = 2 }},
		{"other model", func(p *registry.StoredPrediction) { p.Model = "other-model" }},
		{"upper-case hash", func(p *registry.StoredPrediction) { p.TextSHA256 = strings.ToUpper(p.TextSHA256) }},
		{"short hash", func(p *registry.StoredPrediction) { p.TextSHA256 = "00" }},
		{"tag not a class", func(p *registry.StoredPrediction) { p.Tag = "robotics" }},
		{"class missing", func(p *registry.StoredPrediction) { delete(p.Probabilities, "other") }},
		{"class unknown", func(p *registry.StoredPrediction) {
			delete(p.Probabilities, "other")
			p.Probabilities["robotics"] = 0.125
		}},
	}
	for _, tc := range odd {
		t.Run(tc.name, func(t *testing.T) {
			c := newStoredCache(owner, 10)
			p := storedPred(1, "x", "mlops")
			tc.mutate(&p)
			c.put(p)
			_, ok := c.get("x")
			assert.False(t, ok)
		})
	}

	t.Run("off", func(t *testing.T) {
		assert.Nil(t, newStoredCache(owner, 0))
		assert.Nil(t, newStoredCache(owner, -1))
	})
}

// gatedArtifacts holds the first Open until release is closed or the
// caller's context ends, and says when it has started.
type gatedArtifacts struct {
	Artifacts
	started chan struct{}
	release chan struct{}
	calls   chan struct{} // one token: only the first Open is held
}

func (g *gatedArtifacts) Open(ctx context.Context, name string, version int) (*model.Artifact, registry.Version, error) {
	select {
	case <-g.calls:
		close(g.started)
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, registry.Version{}, ctx.Err()
		}
	default:
	}
	return g.Artifacts.Open(ctx, name, version)
}

// signallingStore says each time Version has answered.
type signallingStore struct {
	Store
	versionRead chan struct{}
}

func (s signallingStore) Version(ctx context.Context, name string, version int) (registry.Version, error) {
	v, err := s.Store.Version(ctx, name, version)
	s.versionRead <- struct{}{}
	return v, err
}

// TestNamedLoadWaitersOwnContext: requests for a version being loaded
// share one load, and each depends on its own context only. The request
// that began the load goes away; another waiting for the same load still
// gets the version, and one whose own context ends stops waiting at once.
func TestNamedLoadWaitersOwnContext(t *testing.T) {
	t.Parallel()
	store, reg := testRegistry(t)
	gate := &gatedArtifacts{Artifacts: reg, started: make(chan struct{}), release: make(chan struct{}), calls: make(chan struct{}, 1)}
	gate.calls <- struct{}{}
	sig := signallingStore{Store: store, versionRead: make(chan struct{}, 3)}
	m := New(Config{Model: modelName, Store: sig, Artifacts: gate})

	type result struct {
		v   *Version
		err error
	}
	first, firstCtx := make(chan result, 1), context.Background()
	firstCtx, leave := context.WithCancel(firstCtx)
	go func() {
		v, err := m.Named(firstCtx, modelName, 2)
		first <- result{v, err}
	}()
	<-sig.versionRead
	<-gate.started // the first request's load is under way

	second := make(chan result, 1)
	go func() {
		v, err := m.Named(context.Background(), modelName, 2)
		second <- result{v, err}
	}()
	<-sig.versionRead // the second request is about to wait for the same load
	impatientCtx, giveUp := context.WithCancel(context.Background())
	impatient := make(chan result, 1)
	go func() {
		v, err := m.Named(impatientCtx, modelName, 2)
		impatient <- result{v, err}
	}()
	<-sig.versionRead

	leave() // the first request's client goes away
	r := <-first
	assert.ErrorIs(t, r.err, context.Canceled, "the first request ends with its own context")
	giveUp()
	r = <-impatient
	assert.ErrorIs(t, r.err, context.Canceled, "a waiter whose context ends stops waiting while the load goes on")

	close(gate.release)
	r = <-second
	require.NoError(t, r.err, "the second request does not fail because the first went away")
	assert.Equal(t, "second-run", r.v.RunID)
	assert.Equal(t, 2, r.v.Version)

	again, err := m.Named(context.Background(), modelName, 2)
	require.NoError(t, err)
	assert.Same(t, r.v, again, "the load is cached")
}
