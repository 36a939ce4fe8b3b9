package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStaticAssetCaching: each policy's Cache-Control, whatever the
// request asks for, and the hash that versions a URL.
func TestStaticAssetCaching(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"app.js": {Data: []byte("console.log(1)\n")}}
	hash := "3879a5d930ae1999" // first 16 hex digits of sha256("console.log(1)\n")
	tests := []struct {
		name    string
		caching assetCaching
		query   string
		want    string
	}{
		{"revalidated, plain URL", cacheRevalidate, "", "no-cache"},
		{"revalidated, even by hash", cacheRevalidate, "?v=" + hash, "no-cache"},
		{"versioned, by its hash", cacheByVersion, "?v=" + hash, "public, max-age=31536000, immutable"},
		{"versioned, plain URL", cacheByVersion, "", "public, max-age=3600"},
		{"versioned, by an old hash", cacheByVersion, "?v=0000000000000000", "public, max-age=3600"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assets, err := newStaticAssets(fsys, tc.caching, map[string]string{"app.js": contentTypeJS})
			require.NoError(t, err)
			got, err := assets["app.js"].contentHash()
			require.NoError(t, err)
			require.Equal(t, hash, got)
			rec := httptest.NewRecorder()
			require.NoError(t, assets["app.js"].serve(rec, httptest.NewRequest(http.MethodGet, "/app.js"+tc.query, nil)))
			assert.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, tc.want, rec.Header().Get("Cache-Control"))
			assert.Equal(t, contentTypeJS, rec.Header().Get("Content-Type"))
			assert.Equal(t, `"`+hash+`"`, rec.Header().Get("ETag"))
			assert.Equal(t, "console.log(1)\n", rec.Body.String())
		})
	}
}

// TestStaticAssetsMissingFile: a file that is not there fails when the
// assets are made, not when a client asks for it.
func TestStaticAssetsMissingFile(t *testing.T) {
	t.Parallel()
	_, err := newStaticAssets(fstest.MapFS{}, cacheRevalidate, map[string]string{"app.js": contentTypeJS})
	assert.Error(t, err)
}

// BenchmarkStaticAsset serves the largest docs bundle and the console's
// bundle, gzipped.
func BenchmarkStaticAsset(b *testing.B) {
	s := newTestServer(b, false, func(c *testConfig) { c.Logger = slog.New(slog.DiscardHandler) })
	for _, path := range []string{"/docs/swagger-ui-bundle.js", "/console/console.js"} {
		b.Run(path, func(b *testing.B) {
			r := request{method: "GET", path: path, header: http.Header{"Accept-Encoding": {"gzip"}}}
			b.ReportAllocs()
			for b.Loop() {
				if rec := do(s, r); rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
