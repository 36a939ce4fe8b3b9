package server

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
)

// docsFS holds the Swagger UI and ReDoc pages and the bundles they load, so
// that the docs work without a CDN. scripts/docs-assets.sh copies the
// bundles from the npm packages pinned in scripts/package-lock.json.
//
//go:embed docs
var docsFS embed.FS

// docsCSP keeps the docs pages from loading anything from outside this
// server. ReDoc styles inline and runs its search in a blob: worker.
const docsCSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
	"font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"

// docsAssetTypes are the files the docs pages load, and their types.
var docsAssetTypes = map[string]string{
	"swagger-ui-bundle.js": contentTypeJS,
	"swagger-ui.css":       contentTypeCSS,
	"swagger-init.js":      contentTypeJS,
	"redoc.standalone.js":  contentTypeJS,
	"redoc-init.js":        contentTypeJS,
}

// registerDocs serves the spec (/openapi.json, /openapi.yaml) and its
// renderings (/docs, /redoc). specYAML, when nil, is derived from specJSON.
func registerDocs(e *echo.Echo, specJSON, specYAML []byte) error {
	sub, err := fs.Sub(docsFS, "docs")
	if err != nil {
		return fmt.Errorf("server: docs assets: %w", err)
	}
	assets, err := embeddedDocsAssets()
	if err != nil {
		return err
	}
	// A page asks for the assets by hash: it is made on first request, so
	// that no asset is read at start-up.
	page := func(name string) (echo.HandlerFunc, error) {
		if _, err := fs.Stat(sub, name); err != nil {
			return nil, fmt.Errorf("server: docs page: %w", err)
		}
		versioned := sync.OnceValues(func() ([]byte, error) {
			b, err := fs.ReadFile(sub, name)
			if err != nil {
				return nil, fmt.Errorf("server: docs page: %w", err)
			}
			return versionDocsPage(b, assets)
		})
		return func(c echo.Context) error {
			b, err := versioned()
			if err != nil {
				return err
			}
			c.Response().Header().Set("Content-Security-Policy", docsCSP)
			return c.HTMLBlob(http.StatusOK, b)
		}, nil
	}
	swagger, err := page("swagger.html")
	if err != nil {
		return err
	}
	redoc, err := page("redoc.html")
	if err != nil {
		return err
	}
	e.GET("/docs", swagger)
	e.GET("/redoc", redoc)
	e.GET("/docs/:asset", func(c echo.Context) error {
		a, ok := assets[c.Param("asset")]
		if !ok {
			return echo.ErrNotFound
		}
		return a.serve(c.Response(), c.Request())
	})
	e.GET("/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, specJSON)
	})
	e.GET("/openapi.yaml", func(c echo.Context) error {
		b := specYAML
		if b == nil {
			var err error
			if b, err = embeddedSpecYAML(); err != nil {
				return fmt.Errorf("server: spec as YAML: %w", err)
			}
		}
		return c.Blob(http.StatusOK, "application/yaml", b)
	})
	return nil
}
