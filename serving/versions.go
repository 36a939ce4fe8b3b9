package serving

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// loadTimeout bounds a load of a named version. A load runs on behalf of
// every request waiting for it, so it does not end when the request that
// began it goes away; it ends at the latest after loadTimeout.
const loadTimeout = time.Minute

// versionCache keeps the few most recently used model versions loaded for
// named-version predictions. Concurrent requests for a version that is not
// loaded share one load (singleflight), and each waits for it only as long
// as its own context allows: a caller that goes away fails no other.
type versionCache struct {
	size  int
	loads singleflight.Group

	mu      sync.Mutex
	order   *list.List // of *Version, most recent first
	entries map[string]*list.Element
}

func newVersionCache(size int) *versionCache {
	return &versionCache{size: size, order: list.New(), entries: map[string]*list.Element{}}
}

func cacheKey(name string, version int) string { return fmt.Sprintf("%s/%d", name, version) }

// get returns the cached version when keep accepts it, or loads it with
// load, which is given a context of its own. A failed load is not cached.
func (c *versionCache) get(ctx context.Context, name string, version int, keep func(*Version) bool,
	load func(ctx context.Context) (*Version, error)) (*Version, error) {
	key := cacheKey(name, version)
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		if v := el.Value.(*Version); keep(v) {
			c.order.MoveToFront(el)
			c.mu.Unlock()
			return v, nil
		}
		c.order.Remove(el)
		delete(c.entries, key)
	}
	c.mu.Unlock()

	ch := c.loads.DoChan(key, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		v, err := load(lctx)
		if err != nil {
			return nil, err
		}
		c.put(key, v)
		return v, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Version), nil
	}
}

func (c *versionCache) put(key string, v *Version) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.Remove(el)
	}
	c.entries[key] = c.order.PushFront(v)
	for c.order.Len() > c.size {
		old := c.order.Back()
		c.order.Remove(old)
		ov := old.Value.(*Version)
		delete(c.entries, cacheKey(ov.Name, ov.Version))
	}
}

// forget drops a version, after it is deleted.
func (c *versionCache) forget(name string, version int) {
	key := cacheKey(name, version)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.Remove(el)
		delete(c.entries, key)
	}
}
