package batch

import (
	"context"
	"sync"

	"github.com/tagifai/tagifai/registry"
)

// loaderCache bounds how many versions RegistryLoader keeps loaded.
const loaderCache = 4

// RegistryLoader loads versions from reg, whose database is store, keeping
// the last few loaded; a version deleted and uploaded again with other
// bytes is loaded again.
func RegistryLoader(store registry.Store, reg *registry.Registry) Loader {
	type key struct {
		name     string
		version  int
		checksum string
	}
	var mu sync.Mutex
	cache := map[key]Classifier{}
	var order []key
	return func(ctx context.Context, name string, version int) (Classifier, error) {
		v, err := store.Version(ctx, name, version)
		if err != nil {
			return nil, err
		}
		k := key{name, version, v.Checksum}
		mu.Lock()
		c, ok := cache[k]
		mu.Unlock()
		if ok {
			return c, nil
		}
		art, _, err := reg.Open(ctx, name, version)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if _, ok := cache[k]; !ok {
			cache[k] = art.Classifier
			order = append(order, k)
			if len(order) > loaderCache {
				delete(cache, order[0])
				order = order[1:]
			}
		}
		return cache[k], nil
	}
}
