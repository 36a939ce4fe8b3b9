package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConsole(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, true)

	tests := []struct {
		path, contentType, contains string
	}{
		{"/console", "text/html", `src="/console/console.js"`},
		{"/console/console.js", "text/javascript", "/batch-jobs"},
		{"/console/console.css", "text/css", "mark"},
		{"/console/console.js.LEGAL.txt", "text/plain", "Chart.js"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			rec := do(s, request{method: "GET", path: tc.path})
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Contains(t, rec.Header().Get("Content-Type"), tc.contentType)
			assert.Contains(t, rec.Body.String(), tc.contains)
			csp := rec.Header().Get("Content-Security-Policy")
			assert.Contains(t, csp, "default-src 'self'")
			assert.Contains(t, csp, "connect-src 'self'")
			assert.NotContains(t, csp, "unsafe-inline", "no inline script or style")
		})
	}

	t.Run("nothing from outside", func(t *testing.T) {
		t.Parallel()
		// The page and its stylesheet name no other origin; the bundle's
		// only URLs are in comments and strings the app never fetches.
		for _, path := range []string{"/console", "/console/console.css"} {
			rec := do(s, request{method: "GET", path: path})
			require.Equal(t, http.StatusOK, rec.Code)
			assert.NotRegexp(t, regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`), rec.Body.String(), path)
		}
	})

	t.Run("gzip and revalidation", func(t *testing.T) {
		t.Parallel()
		// The page and each asset, gzipped for a client that accepts it,
		// with a strong ETag per encoding that a conditional request
		// revalidates; browsers revalidate on each load (no-cache).
		sub, err := fs.Sub(consoleFS, "console")
		require.NoError(t, err)
		for path, file := range map[string]string{
			"/console": "index.html", "/console/console.js": "console.js",
			"/console/console.css": "console.css", "/console/console.js.LEGAL.txt": "console.js.LEGAL.txt",
		} {
			raw, err := fs.ReadFile(sub, file)
			require.NoError(t, err)

			plain := do(s, request{method: "GET", path: path})
			require.Equal(t, http.StatusOK, plain.Code, path)
			assert.Empty(t, plain.Header().Get("Content-Encoding"), "%s: no Accept-Encoding: the file as it is", path)
			assert.True(t, bytes.Equal(raw, plain.Body.Bytes()), "%s: the embedded file", path)
			assert.Equal(t, "no-cache", plain.Header().Get("Cache-Control"), path)
			assert.Contains(t, plain.Header().Values("Vary"), "Accept-Encoding", path)
			etag := plain.Header().Get("ETag")
			assert.Regexp(t, `^"[0-9a-f]{16}"$`, etag, path)

			zipped := do(s, request{method: "GET", path: path, header: http.Header{"Accept-Encoding": {"gzip, br"}}})
			require.Equal(t, http.StatusOK, zipped.Code, path)
			assert.Equal(t, "gzip", zipped.Header().Get("Content-Encoding"), path)
			assert.Equal(t, plain.Header().Get("Content-Type"), zipped.Header().Get("Content-Type"), path)
			assert.Equal(t, consoleCSP, zipped.Header().Get("Content-Security-Policy"), path)
			zetag := zipped.Header().Get("ETag")
			assert.Equal(t, strings.TrimSuffix(etag, `"`)+`-gzip"`, zetag, "%s: an ETag per encoding", path)
			zr, err := gzip.NewReader(zipped.Body)
			require.NoError(t, err, path)
			got, err := io.ReadAll(zr)
			require.NoError(t, err, path)
			assert.True(t, bytes.Equal(raw, got), "%s: gunzipped, the embedded file", path)

			again := do(s, request{method: "GET", path: path, header: http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {zetag}}})
			assert.Equal(t, http.StatusNotModified, again.Code, path)
			assert.Empty(t, again.Body.Bytes(), path)
			other := do(s, request{method: "GET", path: path, header: http.Header{"If-None-Match": {zetag}}})
			assert.Equal(t, http.StatusOK, other.Code, "%s: the gzip ETag does not validate the plain file", path)
		}
	})

	t.Run("revalidation", func(t *testing.T) {
		t.Parallel()
		first := do(s, request{method: "GET", path: "/console/console.js"})
		require.Equal(t, http.StatusOK, first.Code)
		etag := first.Header().Get("ETag")
		require.NotEmpty(t, etag)
		again := do(s, request{method: "GET", path: "/console/console.js", header: http.Header{"If-None-Match": {etag}}})
		assert.Equal(t, http.StatusNotModified, again.Code)
		assert.Empty(t, again.Body.String())
		other := do(s, request{method: "GET", path: "/console/console.css", header: http.Header{"If-None-Match": {etag}}})
		assert.Equal(t, http.StatusOK, other.Code, "another asset's ETag does not match")
	})

	t.Run("unknown asset", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/console/secrets.js", "/console/..%2f..%2fgo.mod", "/console/index.html"} {
			rec := do(s, request{method: "GET", path: path})
			assert.Equal(t, http.StatusNotFound, rec.Code, path)
			assert.Contains(t, rec.Body.String(), `"errors"`, "%s: the documented error envelope", path)
		}
	})
}
