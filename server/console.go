package server

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// consoleFS holds the web console: its page and the bundle that
// scripts/console-build.sh builds from console/ with the npm packages
// pinned in console/package-lock.json.
//
//go:embed console
var consoleFS embed.FS

// consoleCSP keeps the console from loading or sending anything anywhere
// but this server: no inline script, no outside fonts, styles or images.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// consoleAssets are the files the console page loads (and the licences of
// what its bundle contains).
var consoleAssets = map[string]string{
	"console.js":           "text/javascript; charset=utf-8",
	"console.css":          "text/css; charset=utf-8",
	"console.js.LEGAL.txt": "text/plain; charset=utf-8",
}

// registerConsole serves the web console at /console and its assets under
// /console/. The console is a client of the public API like any other.
// Browsers revalidate the assets on each load (no-cache) and get a 304 while
// their ETag, a hash of the content, still matches.
func registerConsole(e *echo.Echo) error {
	sub, err := fs.Sub(consoleFS, "console")
	if err != nil {
		return fmt.Errorf("server: console assets: %w", err)
	}
	page, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return fmt.Errorf("server: console page: %w", err)
	}
	assets := make(map[string][]byte, len(consoleAssets))
	etags := make(map[string]string, len(consoleAssets))
	for name := range consoleAssets {
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			return fmt.Errorf("server: console asset: %w", err)
		}
		sum := sha256.Sum256(b)
		assets[name], etags[name] = b, `"`+hex.EncodeToString(sum[:16])+`"`
	}
	e.GET("/console", func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("Cache-Control", "no-cache")
		return c.HTMLBlob(http.StatusOK, page)
	}, middleware.Gzip())
	e.GET("/console/:asset", func(c echo.Context) error {
		name := c.Param("asset")
		contentType, ok := consoleAssets[name]
		if !ok {
			return echo.ErrNotFound
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, contentType)
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etags[name])
		http.ServeContent(c.Response(), c.Request(), name, time.Time{}, bytes.NewReader(assets[name]))
		return nil
	}, middleware.Gzip())
	return nil
}
