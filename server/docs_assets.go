package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// docsAsset is one file the docs pages load. It is compressed once per
// process, when a client first accepts gzip, rather than on every request
// or for every server built: compressing the bundles at their best level
// takes about 100 ms, which start-up and tests need not pay.
type docsAsset struct {
	name string
	raw  []byte
	hash string // first 16 hex digits of the SHA-256 of raw: the pages ask for name?v=hash

	zipOnce sync.Once
	zipped  []byte // raw gzipped, or nil when compressing failed
}

// gzipped returns the asset compressed with gzip, or nil if that failed.
func (a *docsAsset) gzipped() []byte {
	a.zipOnce.Do(func() {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return
		}
		if _, err := zw.Write(a.raw); err != nil {
			return
		}
		if err := zw.Close(); err != nil {
			return
		}
		a.zipped = buf.Bytes()
	})
	return a.zipped
}

// embeddedDocsAssets are the docs assets embedded in the binary, read and
// hashed once per process and shared by every server.
var embeddedDocsAssets = sync.OnceValues(func() (map[string]*docsAsset, error) {
	sub, err := fs.Sub(docsFS, "docs")
	if err != nil {
		return nil, fmt.Errorf("server: docs assets: %w", err)
	}
	return loadDocsAssets(sub, docsAssetNames)
})

// docsImmutable is the caching of an asset asked for by its current hash:
// its URL changes whenever its content does, so a browser keeps it a year.
// An asset asked for without it may change with the next release, so it is
// cached an hour, then revalidated with its ETag.
const (
	docsImmutable   = "public, max-age=31536000, immutable"
	docsRevalidated = "public, max-age=3600"
)

// loadDocsAssets reads and hashes each of names from sub.
func loadDocsAssets(sub fs.FS, names []string) (map[string]*docsAsset, error) {
	assets := make(map[string]*docsAsset, len(names))
	for _, name := range names {
		raw, err := fs.ReadFile(sub, name)
		if err != nil {
			return nil, fmt.Errorf("server: docs asset: %w", err)
		}
		sum := sha256.Sum256(raw)
		assets[name] = &docsAsset{name: name, raw: raw, hash: hex.EncodeToString(sum[:8])}
	}
	return assets, nil
}

// versionDocsPage makes a page ask for each asset by its current hash, so
// that browsers may cache the assets for good.
func versionDocsPage(page []byte, assets map[string]*docsAsset) []byte {
	for name, a := range assets {
		page = bytes.ReplaceAll(page, []byte(`"docs/`+name+`"`), []byte(`"docs/`+name+`?v=`+a.hash+`"`))
	}
	return page
}

// serve writes the asset, gzipped when the client accepts it, with a
// strong ETag per encoding; http.ServeContent answers If-None-Match with
// 304 and ranges.
func (a *docsAsset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", docsImmutable)
	} else {
		h.Set("Cache-Control", docsRevalidated)
	}
	body, etag := a.raw, `"`+a.hash+`"`
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		if zipped := a.gzipped(); zipped != nil {
			body, etag = zipped, `"`+a.hash+`-gzip"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip
// (by name or by *) with a quality above 0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		return q > 0
	}
	return false
}
