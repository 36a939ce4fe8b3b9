package serving

import (
	"context"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// storedCache keeps stored predictions of one serving version in memory,
// so that GET /predictions/{item-id} answers most lookups without the
// database.
//
// An entry cannot go stale while its version serves: batches add
// predictions but keep those already stored, and a version can be deleted
// (with its predictions) only when it is neither serving nor running batch
// jobs. Each serving version gets a new cache, so a swap or a rollback
// never answers with another version's entries. Only predictions found are
// kept: an item without one may get it from the next batch.
//
// Entries are compact (the class index of the tag, the probabilities in
// class order, the hash as bytes: about 150 bytes with the map's share).
// When the cache is full a random entry makes room, which costs no
// bookkeeping on hits; lookups of stored predictions rarely have the
// recency that would make LRU worth it.
//
// While the lifecycle runs (Manager.Run), a new serving version's cache is
// filled from the database in the background (warming), so that lookups
// are fast from the first minutes of a deployment, not only once each item
// has been asked for.
type storedCache struct {
	owner   *Version // the serving version whose predictions these are
	classes []string
	max     int

	mu      sync.RWMutex
	entries map[string]storedEntry
}

type storedEntry struct {
	textSHA256 [32]byte
	tag        uint8
	createdAt  int64 // Unix nanoseconds
	probs      []float64
}

// newStoredCache returns an empty cache for owner's predictions that holds
// at most max entries; nil when max is 0 or the classes do not fit in an
// entry.
func newStoredCache(owner *Version, max int) *storedCache {
	classes := owner.Predictor.Classes()
	if max <= 0 || len(classes) == 0 || len(classes) > 256 {
		return nil
	}
	return &storedCache{owner: owner, classes: classes, max: max, entries: make(map[string]storedEntry)}
}

// get returns the cached prediction of item.
func (c *storedCache) get(item string) (registry.StoredPrediction, bool) {
	c.mu.RLock()
	e, ok := c.entries[item]
	c.mu.RUnlock()
	if !ok {
		return registry.StoredPrediction{}, false
	}
	return registry.StoredPrediction{
		Model: c.owner.Name, Version: c.owner.Version, ItemID: item,
		TextSHA256: hex.EncodeToString(e.textSHA256[:]), Tag: c.classes[e.tag],
		Probabilities: model.ProbabilitiesByClass(c.classes, e.probs), CreatedAt: time.Unix(0, e.createdAt).UTC(),
	}, true
}

// put keeps p, unless it does not fit the compact form exactly (then every
// lookup of it goes to the database, which is correct, only slower).
func (c *storedCache) put(p registry.StoredPrediction) {
	e, ok := c.compact(p)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[p.ItemID]; !ok && len(c.entries) >= c.max {
		for k := range c.entries { // map iteration starts at a random entry
			delete(c.entries, k)
			break
		}
	}
	c.entries[p.ItemID] = e
}

func (c *storedCache) compact(p registry.StoredPrediction) (storedEntry, bool) {
	if p.Model != c.owner.Name || p.Version != c.owner.Version || len(p.Probabilities) != len(c.classes) {
		return storedEntry{}, false
	}
	var e storedEntry
	if len(p.TextSHA256) != 2*len(e.textSHA256) {
		return storedEntry{}, false
	}
	if _, err := hex.Decode(e.textSHA256[:], []byte(p.TextSHA256)); err != nil || hex.EncodeToString(e.textSHA256[:]) != p.TextSHA256 {
		return storedEntry{}, false // not lower-case hex: it would not come back the same
	}
	tag := -1
	e.probs = make([]float64, len(c.classes))
	for i, class := range c.classes {
		prob, ok := p.Probabilities[class]
		if !ok {
			return storedEntry{}, false
		}
		e.probs[i] = prob
		if class == p.Tag {
			tag = i
		}
	}
	if tag < 0 || !p.CreatedAt.Equal(time.Unix(0, p.CreatedAt.UnixNano())) {
		return storedEntry{}, false
	}
	e.tag = uint8(tag)
	e.createdAt = p.CreatedAt.UnixNano()
	return e, true
}

// full reports whether the cache holds as many entries as it may.
func (c *storedCache) full() bool { return c.len() >= c.max }

// len returns how many predictions the cache holds.
func (c *storedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// warmPage is how many stored predictions warming reads at a time.
const warmPage = 1000

// warmStored reads c's version's stored predictions into c, a page at a
// time in item order, until the cache is full, the predictions run out,
// another version serves, or ctx is done.
func (m *Manager) warmStored(ctx context.Context, c *storedCache) {
	start := time.Now()
	after := ""
	for !c.full() && m.stored.Load() == c {
		page, err := m.store.VersionPredictions(ctx, c.owner.Name, c.owner.Version, after, warmPage)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("filling the stored-prediction cache failed; lookups ask the database", slog.String("error", err.Error()))
			}
			return
		}
		for _, p := range page {
			if c.full() {
				break
			}
			c.put(p)
		}
		if len(page) < warmPage {
			break
		}
		after = page[len(page)-1].ItemID
	}
	m.log.Info("stored-prediction cache filled", slog.String("model", c.owner.Name), slog.Int("version", c.owner.Version),
		slog.Int("predictions", c.len()), slog.Duration("duration", time.Since(start)))
}
