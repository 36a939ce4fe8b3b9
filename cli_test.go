package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runMain runs the command line as main does and returns the exit status
// and what went to stdout and stderr.
func runMain(t *testing.T, environ map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := env{getenv: func(k string) string { return environ[k] }, stdout: &out, stderr: &errOut}
	code = exitCode(run(context.Background(), args, e), &errOut)
	return code, out.String(), errOut.String()
}

// TestCommandLineConventions: every command and subcommand prints its
// flags on -h and exits 0, exits 2 with a hint on a bad flag or a stray
// argument, and exits 1 with "tagifai COMMAND: " on a failure.
func TestCommandLineConventions(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
	noServer := "http://127.0.0.1:1"

	tests := []struct {
		cmd     []string // the command and subcommand
		failure []string // arguments that fail at run time
		want    string   // in the failure's message
	}{
		{[]string{"serve"}, []string{"--addr", busy.Addr().String()}, "address is in use"},
		{[]string{"train"}, []string{"--data", "no-such.csv", "--holdout", "no-such.csv", "--out", "unused"}, "no-such.csv"},
		{[]string{"evaluate"}, []string{"--data", "no-such.csv"}, "no-such.csv"},
		{[]string{"predict"}, []string{"--artifacts", "no-such-dir", "text"}, "no-such-dir"},
		{[]string{"cv"}, []string{"--data", "no-such.csv"}, "no-such.csv"},
		{[]string{"batch"}, []string{"--input", "no-such.csv"}, "no-such.csv"},
		{[]string{"users", "create"}, []string{"--name", "ops", "--role", "admin", "--data-dir", "/dev/null/registry"}, "registry directory /dev/null/registry: "},
		{[]string{"users", "revoke"}, []string{"--name", "ops"}, "no registry at "},
		{[]string{"users", "list"}, nil, "no registry at "},
		{[]string{"models", "list"}, []string{"--url", noServer}, "connection refused"},
		{[]string{"models", "show"}, []string{"--url", noServer, "1"}, "connection refused"},
		{[]string{"models", "upload"}, []string{"--url", noServer, "artifacts"}, "connection refused"},
		{[]string{"models", "deploy"}, []string{"--url", noServer, "2"}, "connection refused"},
		{[]string{"models", "rollback"}, []string{"--url", noServer}, "connection refused"},
		{[]string{"models", "delete"}, []string{"--url", noServer, "2"}, "connection refused"},
	}
	for _, tt := range tests {
		name := strings.Join(tt.cmd, " ")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Each run gets its own home, so that the default registry is
			// empty and anything created is seen.
			home := t.TempDir()
			environ := map[string]string{"HOME": home}
			with := func(args ...string) []string { return append(append([]string{}, tt.cmd...), args...) }

			for _, help := range []string{"-h", "--help"} {
				code, stdout, stderr := runMain(t, environ, with(help)...)
				assert.Equal(t, 0, code, help)
				assert.Empty(t, stderr)
				assert.True(t, strings.HasPrefix(stdout, "usage: tagifai "+name+" [flags]"), stdout)
				assert.Contains(t, stdout, "  --")
				for _, line := range strings.Split(stdout, "\n") {
					if strings.HasPrefix(line, "  --") {
						assert.Contains(t, line, "[TAGIFAI_", "every flag names its variable")
					}
				}
			}

			code, stdout, stderr := runMain(t, environ, with("--no-such-flag")...)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, "tagifai "+name+": flag provided but not defined: -no-such-flag")
			assert.Contains(t, stderr, "Run 'tagifai "+name+" -h' for its flags.")

			if name != "predict" { // predict's arguments are texts
				code, _, stderr = runMain(t, environ, with(append(append([]string{}, tt.failure...), "stray", "more")...)...)
				assert.Equal(t, 2, code, "stray arguments are refused")
				assert.Contains(t, stderr, "unexpected arguments")
			}

			code, stdout, stderr = runMain(t, environ, with(tt.failure...)...)
			assert.Equal(t, 1, code, stderr)
			assert.Empty(t, stdout)
			assert.True(t, strings.HasPrefix(stderr, "tagifai "+name+": ") || strings.Contains(stderr, "\ntagifai "+name+": "), stderr)
			assert.Contains(t, stderr, tt.want)
			_, err := os.Stat(filepath.Join(home, ".local"))
			assert.ErrorIs(t, err, os.ErrNotExist, "a failed command leaves no registry behind")
		})
	}
}

func TestTopLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 2, "", "tagifai: missing COMMAND"},
		{[]string{"-h"}, 0, "usage: tagifai COMMAND [flags]", ""},
		{[]string{"--help"}, 0, "models ", ""},
		{[]string{"help"}, 0, "users ", ""},
		{[]string{"--version"}, 0, "tagifai ", ""},
		{[]string{"version", "now"}, 2, "", "unexpected arguments"},
		{[]string{"predcit"}, 2, "", `tagifai: unknown command "predcit"`},
		{[]string{"users"}, 2, "", "tagifai users: missing COMMAND (create, revoke, list)"},
		{[]string{"users", "-h"}, 0, "usage: tagifai users COMMAND", ""},
		{[]string{"models", "--help"}, 0, "rollback", ""},
		{[]string{"models", "promote"}, 2, "", `tagifai models: unknown command "promote"`},
		{[]string{"models", "show"}, 2, "", "tagifai models show: missing VERSION"},
		{[]string{"models", "show", "two"}, 2, "", "VERSION must be a positive whole number"},
		{[]string{"models", "list", "--url", "localhost:8000"}, 2, "", "must be http://HOST:PORT"},
		{[]string{"train"}, 2, "", "--data, --holdout and --out are required"},
		{[]string{"predict"}, 2, "", "tagifai predict: missing TEXT..."},
		{[]string{"batch"}, 2, "", "tagifai batch: --input is required"},
		{[]string{"users", "create", "--name", "ops"}, 2, "", "--name and --role are required"},
		{[]string{"users", "create", "--name", "ops", "--role", "emperor"}, 2, "", `--role "emperor" must be admin, predictor or viewer`},
		{[]string{"users", "create", "--name", "guard", "--role", "admin"}, 2, "", `--name "guard" is reserved`},
		{[]string{"users", "create", "--name", "anonymous", "--role", "viewer"}, 2, "", `--name "anonymous" is reserved`},
		{[]string{"users", "create", "--name", "CLI", "--role", "admin"}, 2, "", `--name "CLI" is reserved`},
		{[]string{"users", "create", "--name", "tagifai-serve", "--role", "admin"}, 2, "", `--name "tagifai-serve" is reserved`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, tt.args...)
			assert.Equal(t, tt.code, code, stderr)
			assert.Contains(t, stdout, tt.stdout)
			assert.Contains(t, stderr, tt.stderr)
		})
	}
	t.Run("version names the Go version", func(t *testing.T) {
		t.Parallel()
		_, stdout, _ := runMain(t, nil, "--version")
		assert.Regexp(t, `^tagifai \S+ \(commit \S+\) go1\.\d+`, stdout)
	})
}

// TestVariables: a flag's variable sets it, the flag wins over it, and a
// bad value is a usage error that names the variable.
func TestVariables(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	environ := map[string]string{"HOME": home}
	code, key, stderr := runMain(t, environ, "users", "create", "--name", "ops", "--role", "admin")
	require.Equal(t, 0, code, stderr)
	require.NotEmpty(t, key)
	registryPath := filepath.Join(home, ".local", "share", "tagifai", "registry.db")
	assert.Contains(t, stderr, "new registry: "+registryPath, "says which registry it made")

	code, stdout, stderr := runMain(t, map[string]string{"HOME": home, "TAGIFAI_JSON": "true"}, "users", "list")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"name":"ops"`, "TAGIFAI_JSON sets --json")
	assert.Contains(t, stderr, "registry: "+registryPath, "the same registry as users create, found the same way")

	code, stdout, _ = runMain(t, map[string]string{"HOME": home, "TAGIFAI_JSON": "true"}, "users", "list", "--json=false")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "NAME", "the flag wins over its variable")

	code, _, stderr = runMain(t, map[string]string{"HOME": home, "TAGIFAI_JSON": "maybe"}, "users", "list")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `TAGIFAI_JSON="maybe"`)

	other := t.TempDir()
	code, _, stderr = runMain(t, map[string]string{"HOME": home, "TAGIFAI_DATA_DIR": other}, "users", "list")
	assert.Equal(t, 1, code, "a read-only command does not create a registry")
	assert.Contains(t, stderr, "no registry at "+filepath.Join(other, "registry.db"))
	entries, err := os.ReadDir(other)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

// TestRegistryDirErrors: a registry directory this user cannot write, or
// one on a read-only file system, is named, with the fix.
func TestRegistryDirErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want []string
	}{
		{&os.PathError{Op: "open", Path: "/srv/reg/.write-check-1", Err: syscall.EACCES},
			[]string{"the registry directory /srv/reg is not writable by this user", "chmod u+w", "--data-dir or TAGIFAI_DATA_DIR"}},
		{&os.PathError{Op: "mkdir", Path: "/srv/reg", Err: syscall.EROFS},
			[]string{"/srv/reg is on a read-only file system", "--data-dir or TAGIFAI_DATA_DIR"}},
		{&os.PathError{Op: "mkdir", Path: "/srv/reg", Err: syscall.ENOTDIR}, []string{"registry directory /srv/reg: mkdir"}},
	}
	for _, tt := range tests {
		msg := registryDirError("/srv/reg", tt.err).Error()
		for _, want := range tt.want {
			assert.Contains(t, msg, want)
		}
	}
	if os.Getuid() != 0 { // root writes everywhere
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o500))
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		code, _, stderr := runMain(t, map[string]string{"TAGIFAI_DATA_DIR": dir}, "users", "create", "--name", "ops", "--role", "admin")
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, "the registry directory "+dir+" is not writable by this user")
	}
}
