package server

import (
	"net/http"
	"regexp"
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

	t.Run("gzip", func(t *testing.T) {
		t.Parallel()
		rec := do(s, request{method: "GET", path: "/console/console.js", header: http.Header{"Accept-Encoding": {"gzip"}}})
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
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
