package server

import (
	"context"
	"sync"
	"time"

	"github.com/tagifai/tagifai/registry"
)

// writableTTL is how long a readiness check trusts the last answer of the
// registry's write check: probes every second or so cost the database
// nothing, and a fault shows within a second.
const writableTTL = time.Second

// writableCache remembers the last answer of a store's write check.
type writableCache struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// check returns store's write check, asked again when the last answer is
// older than writableTTL; nil when the store cannot tell.
func (c *writableCache) check(ctx context.Context, store Store) error {
	wc, ok := store.(registry.WriteChecker)
	if !ok {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.at) >= writableTTL {
		c.err, c.at = wc.CheckWritable(ctx), now
	}
	return c.err
}
