package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHEADOnEveryGETRoute: every route that answers GET answers HEAD with
// the same status and headers and no body (RFC 9110, section 9.3.2), over
// a real connection; the routes are read from the router, so routes added
// later are covered too.
func TestHEADOnEveryGETRoute(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, true)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	concrete := strings.NewReplacer(":arg", "alpha", ":model-name", "tagifai", ":version", "1",
		":job-id", "0123456789abcdef", ":item-id", "6", ":user-name", "someone", ":asset", "swagger-init.js")
	var n int
	for _, r := range s.echo.Routes() {
		if r.Method != http.MethodGet {
			continue
		}
		n++
		path := concrete.Replace(r.Path)
		t.Run(path, func(t *testing.T) {
			get, err := http.Get(srv.URL + path)
			require.NoError(t, err)
			get.Body.Close()
			head, err := http.Head(srv.URL + path)
			require.NoError(t, err)
			defer head.Body.Close()
			assert.Equal(t, get.StatusCode, head.StatusCode)
			assert.NotEqual(t, http.StatusMethodNotAllowed, head.StatusCode)
			assert.Equal(t, get.Header.Get("Content-Type"), head.Header.Get("Content-Type"))
			assert.NotEmpty(t, head.Header.Get(echo.HeaderXRequestID))
		})
	}
	assert.Greater(t, n, 10)

	// Without a route, HEAD is refused like GET, and a 405 offers HEAD
	// wherever it offers GET.
	rec := do(s, request{method: "HEAD", path: "/no/such/route"})
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Empty(t, rec.Body.String(), "a HEAD response has no body")
	rec = do(s, request{method: "DELETE", path: "/metrics"})
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Contains(t, rec.Header().Get("Allow"), "HEAD")
}

// TestTrailingSlashRedirects: a GET or HEAD whose path has no route only
// because of a trailing slash is sent to the path without it, query kept;
// a path with no route either way is still a 404.
func TestTrailingSlashRedirects(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, true)
	for _, tc := range []struct {
		method, path, location string
		status                 int
	}{
		{"GET", "/docs/", "/docs", http.StatusMovedPermanently},
		{"HEAD", "/docs/", "/docs", http.StatusMovedPermanently},
		{"GET", "/redoc/", "/redoc", http.StatusMovedPermanently},
		{"GET", "/performance/?filter=class", "/performance?filter=class", http.StatusMovedPermanently},
		{"GET", "/args//", "/args", http.StatusMovedPermanently},
		{"GET", "//docs/", "", http.StatusNotFound},
		{"GET", "/nothing/", "", http.StatusNotFound},
		{"POST", "/predict/", "", http.StatusNotFound},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			rec := do(s, request{method: tc.method, path: tc.path})
			assert.Equal(t, tc.status, rec.Code, rec.Body.String())
			assert.Equal(t, tc.location, rec.Header().Get("Location"))
		})
	}
}
