package server

import (
	"container/list"
	"fmt"
	"sync"
)

// versionCache keeps the few most recently used model versions loaded for
// named-version predictions. Concurrent requests for a version that is not
// loaded wait for one load.
type versionCache struct {
	mu      sync.Mutex
	size    int
	order   *list.List // of *cacheEntry, most recent first
	entries map[string]*list.Element
}

type cacheEntry struct {
	key   string
	ready chan struct{} // closed when the load is done
	m     *Serving
	err   error
}

func newVersionCache(size int) *versionCache {
	return &versionCache{size: size, order: list.New(), entries: map[string]*list.Element{}}
}

func cacheKey(name string, version int) string { return fmt.Sprintf("%s/%d", name, version) }

// get returns the cached version, or loads it with load. A failed load is
// not cached.
func (c *versionCache) get(name string, version int, load func() (*Serving, error)) (*Serving, error) {
	key := cacheKey(name, version)
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.mu.Unlock()
		<-e.ready
		return e.m, e.err
	}
	e := &cacheEntry{key: key, ready: make(chan struct{})}
	c.entries[key] = c.order.PushFront(e)
	for c.order.Len() > c.size {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
	}
	c.mu.Unlock()

	e.m, e.err = load()
	close(e.ready)
	if e.err != nil {
		c.mu.Lock()
		if el, ok := c.entries[key]; ok && el.Value == e {
			c.order.Remove(el)
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}
	return e.m, e.err
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
