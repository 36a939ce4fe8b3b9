package server

import (
	"embed"
	"fmt"
	"io/fs"
	"sync"

	"github.com/labstack/echo/v4"
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

// consolePage is the console's page, served at /console.
const consolePage = "index.html"

// consoleAssetTypes are the console's page and the files it loads (and the
// licences of what its bundle contains), with their types.
var consoleAssetTypes = map[string]string{
	consolePage:            contentTypeHTML,
	"console.js":           contentTypeJS,
	"console.css":          contentTypeCSS,
	"console.js.LEGAL.txt": contentTypeText,
}

// embeddedConsoleAssets are the console's page and assets, shared by every
// server: each is hashed and gzipped at most once per process. The page
// asks for the assets by fixed URLs, so browsers revalidate them on each
// load (no-cache) and get a 304 while their ETag still matches.
var embeddedConsoleAssets = sync.OnceValues(func() (map[string]*staticAsset, error) {
	sub, err := fs.Sub(consoleFS, "console")
	if err != nil {
		return nil, fmt.Errorf("server: console assets: %w", err)
	}
	return newStaticAssets(sub, cacheRevalidate, consoleAssetTypes)
})

// registerConsole serves the web console at /console and its assets under
// /console/. The console is a client of the public API like any other.
func registerConsole(e *echo.Echo) error {
	assets, err := embeddedConsoleAssets()
	if err != nil {
		return err
	}
	serve := func(c echo.Context, a *staticAsset) error {
		c.Response().Header().Set("Content-Security-Policy", consoleCSP)
		return a.serve(c.Response(), c.Request())
	}
	e.GET("/console", func(c echo.Context) error {
		return serve(c, assets[consolePage])
	})
	e.GET("/console/:asset", func(c echo.Context) error {
		name := c.Param("asset")
		a, ok := assets[name]
		if !ok || name == consolePage {
			return echo.ErrNotFound
		}
		return serve(c, a)
	})
	return nil
}
