package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// staticAsset is one file embedded in the binary and served as it is (the
// docs bundles, the console's page and bundle). Nothing of it is read at
// start-up: its content is served straight from the binary's embedded
// data, hashed on first use, and gzipped once per process, on the first
// request that accepts gzip, rather than on every request or for every
// server built (compressing the docs bundles at their best level takes
// about 100 ms).
type staticAsset struct {
	fsys        fs.FS
	name        string // path in fsys
	contentType string
	caching     assetCaching

	hashOnce sync.Once
	hash     string // first 16 hex digits of the content's SHA-256
	hashErr  error

	zipOnce sync.Once
	zipped  []byte // the content gzipped, or nil when compressing failed
}

// assetCaching is how long browsers may keep an asset.
type assetCaching int

const (
	// cacheRevalidate makes browsers revalidate the asset on each use
	// (no-cache): a 304 while its ETag still matches. For assets that pages
	// ask for by a fixed URL.
	cacheRevalidate assetCaching = iota
	// cacheByVersion keeps the asset a year when it is asked for by its
	// current hash (name?v=hash: its URL changes whenever its content
	// does), and an hour, then revalidated, when asked for without it.
	cacheByVersion
)

// Cache-Control values of the policies.
const (
	cacheControlImmutable  = "public, max-age=31536000, immutable"
	cacheControlShort      = "public, max-age=3600"
	cacheControlRevalidate = "no-cache"
)

// Content types of the assets.
const (
	contentTypeHTML = "text/html; charset=utf-8"
	contentTypeJS   = "text/javascript; charset=utf-8"
	contentTypeCSS  = "text/css; charset=utf-8"
	contentTypeText = "text/plain; charset=utf-8"
)

// newStaticAssets makes an asset of each file of fsys named in types (file
// name to content type), with the caching policy given. It only checks
// that each file exists and can be served.
func newStaticAssets(fsys fs.FS, caching assetCaching, types map[string]string) (map[string]*staticAsset, error) {
	assets := make(map[string]*staticAsset, len(types))
	for name, contentType := range types {
		a := &staticAsset{fsys: fsys, name: name, contentType: contentType, caching: caching}
		f, err := a.open()
		if err != nil {
			return nil, err
		}
		f.Close()
		assets[name] = a
	}
	return assets, nil
}

// open opens the asset's content, which must be seekable (embedded files
// are).
func (a *staticAsset) open() (interface {
	io.ReadSeeker
	io.Closer
}, error) {
	f, err := a.fsys.Open(a.name)
	if err != nil {
		return nil, fmt.Errorf("server: asset: %w", err)
	}
	rs, ok := f.(interface {
		io.ReadSeeker
		io.Closer
	})
	if !ok {
		f.Close()
		return nil, fmt.Errorf("server: asset %s cannot seek", a.name)
	}
	return rs, nil
}

// contentHash returns the first 16 hex digits of the SHA-256 of the
// asset's content, computed on first use.
func (a *staticAsset) contentHash() (string, error) {
	a.hashOnce.Do(func() {
		f, err := a.open()
		if err != nil {
			a.hashErr = err
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			a.hashErr = fmt.Errorf("server: asset %s: %w", a.name, err)
			return
		}
		a.hash = hex.EncodeToString(h.Sum(nil)[:8])
	})
	return a.hash, a.hashErr
}

// gzipped returns the asset compressed with gzip, or nil if that failed.
func (a *staticAsset) gzipped() []byte {
	a.zipOnce.Do(func() {
		f, err := a.open()
		if err != nil {
			return
		}
		defer f.Close()
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return
		}
		if _, err := io.Copy(zw, f); err != nil {
			return
		}
		if err := zw.Close(); err != nil {
			return
		}
		a.zipped = bytes.Clone(buf.Bytes()) // no spare capacity kept for the process's life
	})
	return a.zipped
}

// serve writes the asset, gzipped when the client accepts it, with a strong
// ETag per encoding and the Cache-Control of its policy;
// http.ServeContent answers If-None-Match with 304, HEAD and ranges.
// Headers already set on w (a Content-Security-Policy, say) are kept.
func (a *staticAsset) serve(w http.ResponseWriter, r *http.Request) error {
	hash, err := a.contentHash()
	if err != nil {
		return err
	}
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	switch {
	case a.caching == cacheRevalidate:
		h.Set("Cache-Control", cacheControlRevalidate)
	case r.URL.Query().Get("v") == hash:
		h.Set("Cache-Control", cacheControlImmutable)
	default:
		h.Set("Cache-Control", cacheControlShort)
	}
	h.Set("Content-Type", a.contentType)
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		if zipped := a.gzipped(); zipped != nil {
			h.Set("Content-Encoding", "gzip")
			h.Set("ETag", `"`+hash+`-gzip"`)
			http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(zipped))
			return nil
		}
	}
	f, err := a.open()
	if err != nil {
		return err
	}
	defer f.Close()
	h.Set("ETag", `"`+hash+`"`)
	http.ServeContent(w, r, a.name, time.Time{}, f)
	return nil
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
