package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsAssetsCaching: the docs assets are served gzipped (compressed
// once), with a strong ETag per encoding that a conditional request
// revalidates, and the pages ask for them by content hash so that they
// can be cached for a year.
func TestDocsAssetsCaching(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, false)
	sub, err := fs.Sub(docsFS, "docs")
	require.NoError(t, err)

	page := do(s, request{method: "GET", path: "/docs"}).Body.String()
	refs := regexp.MustCompile(`"docs/([a-z.-]+)\?v=([0-9a-f]{16})"`).FindAllStringSubmatch(page, -1)
	require.Len(t, refs, 3, "the Swagger UI page asks for its three assets by hash: %s", page)
	redoc := do(s, request{method: "GET", path: "/redoc"}).Body.String()
	refs = append(refs, regexp.MustCompile(`"docs/([a-z.-]+)\?v=([0-9a-f]{16})"`).FindAllStringSubmatch(redoc, -1)...)
	require.Len(t, refs, 5)

	for _, ref := range refs {
		name, hash := ref[1], ref[2]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := fs.ReadFile(sub, name)
			require.NoError(t, err)
			versioned := "/docs/" + name + "?v=" + hash

			rec := do(s, request{method: "GET", path: versioned, header: http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}}})
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
			assert.Equal(t, "public, max-age=31536000, immutable", rec.Header().Get("Cache-Control"))
			assert.Contains(t, rec.Header().Values("Vary"), "Accept-Encoding")
			etag := rec.Header().Get("ETag")
			assert.Equal(t, `"`+hash+`-gzip"`, etag)
			zr, err := gzip.NewReader(rec.Body)
			require.NoError(t, err)
			got, err := io.ReadAll(zr)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(raw, got), "gunzipped, the asset is the embedded file")

			rec = do(s, request{method: "GET", path: versioned, header: http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {etag}}})
			assert.Equal(t, http.StatusNotModified, rec.Code)
			assert.Empty(t, rec.Body.Bytes())

			rec = do(s, request{method: "GET", path: "/docs/" + name})
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Empty(t, rec.Header().Get("Content-Encoding"), "no Accept-Encoding: the file as it is")
			assert.Equal(t, `"`+hash+`"`, rec.Header().Get("ETag"))
			assert.Equal(t, "public, max-age=3600", rec.Header().Get("Cache-Control"), "without the hash, a short cache")
			assert.True(t, bytes.Equal(raw, rec.Body.Bytes()))

			rec = do(s, request{method: "GET", path: "/docs/" + name, header: http.Header{"Accept-Encoding": {"gzip;q=0"}, "If-None-Match": {etag}}})
			assert.Equal(t, http.StatusOK, rec.Code, "the gzip ETag does not validate the plain file")
			assert.Empty(t, rec.Header().Get("Content-Encoding"))
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=0.5": true, "gzip;q=0": false,
		"*": true, "br": false, "identity": false, "x-gzip": true, "gzip; q=0.0": false,
	} {
		assert.Equal(t, want, acceptsGzip(header), "%q", header)
	}
}
