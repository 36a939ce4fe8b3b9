package main

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/tagifai/tagifai"

// webCode is what only the HTTP layer (server, gen) may depend on.
var webCode = []string{module + "/server", module + "/gen", "github.com/labstack/echo", "github.com/getkin/kin-openapi",
	"github.com/oapi-codegen", "net/http"}

// databaseDrivers is what only the registry may import.
var databaseDrivers = []string{"database/sql", "modernc.org/sqlite", "github.com/jackc/pgx"}

// TestDependencyDirection: main -> server -> {gen, serving, batch,
// registry, model}, serving and batch -> registry -> model. The classifier
// depends on no package of the project; storage and the lifecycle on no
// web code; the HTTP layer on no database driver. Read from `go list`, so
// a forbidden import added anywhere (directly or through another package)
// fails here.
func TestDependencyDirection(t *testing.T) {
	t.Parallel()
	type rule struct {
		pkg       string
		direct    bool     // check only the package's own imports
		forbidden []string // import path prefixes
		why       string
	}
	rules := []rule{
		{pkg: "model", forbidden: []string{module + "/"}, why: "the classifier imports no package of the project"},
		{pkg: "registry", forbidden: append(webCode, module+"/serving", module+"/batch"), why: "storage imports no web code"},
		{pkg: "batch", forbidden: append(webCode, module+"/serving"), why: "the batch runner imports no web code"},
		{pkg: "serving", forbidden: append(webCode, module+"/batch"), why: "the serving lifecycle imports no web code"},
		{pkg: "monitor", forbidden: append(webCode, module+"/serving", module+"/batch", module+"/registry"), why: "monitoring statistics are pure"},
		{pkg: "server", direct: true, forbidden: databaseDrivers, why: "the HTTP layer reaches the database only through the registry"},
		{pkg: "gen", forbidden: []string{module + "/"}, why: "generated code imports no package of the project"},
	}
	deps := goList(t, "{{.ImportPath}} {{join .Deps \" \"}}")
	imports := goList(t, "{{.ImportPath}} {{join .Imports \" \"}}")
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			t.Parallel()
			from := deps
			if r.direct {
				from = imports
			}
			list, ok := from[module+"/"+r.pkg]
			require.True(t, ok, "no package %s", r.pkg)
			for _, dep := range list {
				for _, f := range r.forbidden {
					if within(dep, f) {
						t.Errorf("%s depends on %s: %s", r.pkg, dep, r.why)
					}
				}
			}
		})
	}
}

// within reports whether import path p is prefix or below it; a prefix
// ending in "/" matches only below it.
func within(p, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(p, prefix)
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// goList runs `go list -f format ./...` and returns, by package, the
// fields after the first.
func goList(t *testing.T, format string) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", format, "./...").Output()
	require.NoError(t, err)
	pkgs := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkgs[f[0]] = f[1:]
	}
	return pkgs
}

// TestOnlyMainWires: the long-running parts (the HTTP server, the serving
// lifecycle, the batch runner) are built only in package main, which
// starts and stops them in one place (services.run).
func TestOnlyMainWires(t *testing.T) {
	t.Parallel()
	constructors := map[string]string{"server": "New", "serving": "New", "batch": "NewRunner"}
	var dirs []string
	require.NoError(t, filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == "." {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata" {
			return filepath.SkipDir
		}
		dirs = append(dirs, path)
		return nil
	}))
	require.Contains(t, dirs, "server")
	fset := token.NewFileSet()
	for _, dir := range dirs {
		pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, 0)
		if err != nil {
			continue
		}
		for _, pkg := range pkgs {
			for name, file := range pkg.Files {
				ast.Inspect(file, func(n ast.Node) bool {
					sel, ok := n.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					if x, ok := sel.X.(*ast.Ident); ok && constructors[x.Name] == sel.Sel.Name {
						assert.Fail(t, "wiring outside main", "%s calls %s.%s: only package main builds the services", name, x.Name, sel.Sel.Name)
					}
					return true
				})
			}
		}
	}
}
