package server

import (
	"embed"
	"fmt"
	"io"
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
func registerConsole(e *echo.Echo) error {
	sub, err := fs.Sub(consoleFS, "console")
	if err != nil {
		return fmt.Errorf("server: console assets: %w", err)
	}
	page, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return fmt.Errorf("server: console page: %w", err)
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
		f, err := sub.Open(name)
		if err != nil {
			return fmt.Errorf("server: open console asset %s: %w", name, err)
		}
		defer f.Close()
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, contentType)
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(c.Response(), c.Request(), name, time.Time{}, f.(io.ReadSeeker))
		return nil
	}, middleware.Gzip())
	return nil
}
