package server

import (
	"bytes"
	"fmt"
	"io/fs"
	"sync"
)

// embeddedDocsAssets are the docs assets embedded in the binary, shared by
// every server: each is hashed and gzipped at most once per process.
var embeddedDocsAssets = sync.OnceValues(func() (map[string]*staticAsset, error) {
	sub, err := fs.Sub(docsFS, "docs")
	if err != nil {
		return nil, fmt.Errorf("server: docs assets: %w", err)
	}
	return newStaticAssets(sub, cacheByVersion, docsAssetTypes)
})

// versionDocsPage makes a page ask for each asset by its current hash, so
// that browsers may cache the assets for good.
func versionDocsPage(page []byte, assets map[string]*staticAsset) ([]byte, error) {
	for name, a := range assets {
		hash, err := a.contentHash()
		if err != nil {
			return nil, err
		}
		page = bytes.ReplaceAll(page, []byte(`"docs/`+name+`"`), []byte(`"docs/`+name+`?v=`+hash+`"`))
	}
	return page, nil
}
