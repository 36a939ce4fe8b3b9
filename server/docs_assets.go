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
	"time"
)

// docsAsset is one file the docs pages load, compressed once when the
// server is built rather than on every request.
type docsAsset struct {
	name    string
	raw     []byte
	gzipped []byte
	hash    string // first 16 hex digits of the SHA-256 of raw: the pages ask for name?v=hash
}

// docsImmutable is the caching of an asset asked for by its current hash:
// its URL changes whenever its content does, so a browser keeps it a year.
// An asset asked for without it may change with the next release, so it is
// cached an hour, then revalidated with its ETag.
const (
	docsImmutable   = "public, max-age=31536000, immutable"
	docsRevalidated = "public, max-age=3600"
)

// loadDocsAssets reads and gzips each of names from sub.
func loadDocsAssets(sub fs.FS, names []string) (map[string]*docsAsset, error) {
	assets := make(map[string]*docsAsset, len(names))
	for _, name := range names {
		raw, err := fs.ReadFile(sub, name)
		if err != nil {
			return nil, fmt.Errorf("server: docs asset: %w", err)
		}
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return nil, fmt.Errorf("server: gzip docs asset %s: %w", name, err)
		}
		if _, err := zw.Write(raw); err != nil {
			return nil, fmt.Errorf("server: gzip docs asset %s: %w", name, err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("server: gzip docs asset %s: %w", name, err)
		}
		sum := sha256.Sum256(raw)
		assets[name] = &docsAsset{name: name, raw: raw, gzipped: buf.Bytes(), hash: hex.EncodeToString(sum[:8])}
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
		body, etag = a.gzipped, `"`+a.hash+`-gzip"`
		h.Set("Content-Encoding", "gzip")
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
