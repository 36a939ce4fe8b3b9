package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseServeFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(*testing.T, serveConfig)
		wantErr string
	}{
		{name: "defaults", env: map[string]string{"HOME": "/home/ana"}, check: func(t *testing.T, c serveConfig) {
			assert.Equal(t, ":8000", c.addr)
			assert.Equal(t, "/home/ana/.local/share/tagifai", c.registry.dataDir, "one registry per user")
			assert.Equal(t, 15*time.Second, c.shutdownTimeout)
			assert.Equal(t, slog.LevelInfo, c.logLevel)
			assert.False(t, c.requireAuth)
			assert.Equal(t, 100_000, c.storedCache)
			assert.Equal(t, 5*time.Second, c.servingPoll)
		}},
		{name: "following the serving version off", args: []string{"--serving-poll-interval", "0"},
			check: func(t *testing.T, c serveConfig) {
				assert.Zero(t, c.servingPoll, "0 turns following off, on the command line as in serving.Config")
			}},
		{name: "stored prediction cache off", env: map[string]string{"TAGIFAI_STORED_PREDICTION_CACHE": "0"},
			check: func(t *testing.T, c serveConfig) {
				assert.Zero(t, c.storedCache, "0 turns the cache off, on the command line as in serving.Config")
			}},
		{name: "environment", env: map[string]string{"TAGIFAI_ADDR": "127.0.0.1:9", "TAGIFAI_REQUIRE_AUTH": "true",
			"TAGIFAI_SHUTDOWN_TIMEOUT": "3s", "TAGIFAI_LOG_LEVEL": "debug", "TAGIFAI_BATCH_WORKERS": "2"},
			check: func(t *testing.T, c serveConfig) {
				assert.Equal(t, "127.0.0.1:9", c.addr)
				assert.True(t, c.requireAuth)
				assert.Equal(t, 3*time.Second, c.shutdownTimeout)
				assert.Equal(t, slog.LevelDebug, c.logLevel)
				assert.Equal(t, 2, c.batchWorkers)
			}},
		{name: "a flag wins over its variable", args: []string{"--addr", ":7"}, env: map[string]string{"TAGIFAI_ADDR": ":9"},
			check: func(t *testing.T, c serveConfig) { assert.Equal(t, ":7", c.addr) }},
		{name: "bad variable", env: map[string]string{"TAGIFAI_SHUTDOWN_TIMEOUT": "soon"}, wantErr: `TAGIFAI_SHUTDOWN_TIMEOUT="soon"`},
		{name: "bad boolean variable", env: map[string]string{"TAGIFAI_REQUIRE_AUTH": "maybe"}, wantErr: "TAGIFAI_REQUIRE_AUTH"},
		{name: "address without port", args: []string{"--addr", "localhost"}, wantErr: "HOST:PORT"},
		{name: "tiny body limit", args: []string{"--max-body-bytes", "10"}, wantErr: "at least 1024"},
		{name: "no workers", args: []string{"--batch-workers", "0"}, wantErr: "at least 1"},
		{name: "negative poll interval", env: map[string]string{"TAGIFAI_SERVING_POLL_INTERVAL": "-1s"}, wantErr: "0 (off) or more"},
		{name: "negative cache", args: []string{"--stored-prediction-cache", "-5"}, wantErr: "0 (off) or more"},
		{name: "negative timeout", args: []string{"--shutdown-timeout", "-1s"}, wantErr: "positive"},
		{name: "XDG_DATA_HOME", env: map[string]string{"HOME": "/home/ana", "XDG_DATA_HOME": "/srv/xdg"},
			check: func(t *testing.T, c serveConfig) { assert.Equal(t, "/srv/xdg/tagifai", c.registry.dataDir) }},
		{name: "TAGIFAI_DATA_DIR wins", env: map[string]string{"HOME": "/home/ana", "TAGIFAI_DATA_DIR": "/var/lib/tagifai"},
			check: func(t *testing.T, c serveConfig) { assert.Equal(t, "/var/lib/tagifai", c.registry.dataDir) }},
		{name: "unknown flag", args: []string{"--port", "80"}, wantErr: "flag provided but not defined: -port"},
		{name: "stray argument", args: []string{"now"}, wantErr: `unexpected arguments ["now"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := env{getenv: func(k string) string { return tc.env[k] }, stdout: io.Discard, stderr: io.Discard}
			cfg, err := parseServeFlags(tc.args, e)
			if tc.wantErr != "" {
				var ue *usageError
				require.ErrorAs(t, err, &ue, "a bad flag or variable is a usage error (exit 2)")
				assert.Equal(t, "serve", ue.cmd)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, cfg)
		})
	}
}

// TestStartupServer: while serve starts, liveness answers 200 and
// readiness, predictions and the rest 503 not_ready, as openapi.yaml
// documents them; then the listener, still bound, passes to the server.
func TestStartupServer(t *testing.T) {
	t.Parallel()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapiYAML)
	require.NoError(t, err)
	doc.Servers = nil // match any host
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	starting, err := startStartupServer(ln, quietLog())
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()

	tests := []struct {
		method, path string
		status       int
		documented   bool
	}{
		{"GET", "/health/live", 200, true},
		{"GET", "/health/ready", 503, true},
		{"GET", "/", 503, true},
		{"POST", "/predict", 503, true},
		{"GET", "/docs", 503, false},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(`{"texts":[{"text":"YOLO"}]}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, tt.status, resp.StatusCode, tt.path)
		if tt.status == 503 {
			assert.Equal(t, "1", resp.Header.Get("Retry-After"))
			assert.Contains(t, string(body), `"type":"not_ready"`)
		}
		if !tt.documented {
			continue
		}
		route, params, err := router.FindRoute(req)
		require.NoError(t, err, tt.path)
		input := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)),
		}
		assert.NoError(t, openapi3filter.ValidateResponse(context.Background(), input), "%s %s: %s", tt.method, tt.path, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	handed, err := starting.handOver(ctx)
	require.NoError(t, err)
	assert.Equal(t, ln.Addr().String(), handed.Addr().String())
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })}
	go hs.Serve(handed)
	t.Cleanup(func() { hs.Close() })
	resp, err := http.Get(base + "/health/ready")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTeapot, resp.StatusCode, "the real server answers on the same listener")
}

func TestLocalURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"[::]:8000": "http://localhost:8000", "0.0.0.0:8000": "http://localhost:8000",
		"127.0.0.1:9": "http://127.0.0.1:9", "[::1]:80": "http://[::1]:80",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		require.NoError(t, err)
		assert.Equal(t, want, localURL(tcp), addr)
	}
}

// syncBuffer is a bytes.Buffer safe for a server's log and a test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveUntilReady runs `tagifai serve` in-process until it logs "ready"
// (then stops it) or fails, and returns its log and error.
func serveUntilReady(t *testing.T, environ map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log syncBuffer
	e := env{getenv: func(k string) string { return environ[k] }, stdout: io.Discard, stderr: &log}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), e) }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-done:
			return log.String(), err
		case <-deadline:
			t.Fatal("serve neither became ready nor failed")
		case <-time.After(5 * time.Millisecond):
			if strings.Contains(log.String(), `"msg":"ready"`) {
				cancel()
				err := <-done
				// Stopped at once after start, the batch runner may still
				// be reading the unfinished jobs: this test is about start-up.
				if errors.Is(err, context.Canceled) {
					err = nil
				}
				return log.String(), err
			}
		}
	}
}

// TestServeArtifactsTheRegistryLacks: a registry that has a model keeps
// serving its version when --artifacts holds another model; serve says
// how to upload and deploy it, or imports it (not serving) when told to.
func TestServeArtifactsTheRegistryLacks(t *testing.T) {
	t.Parallel()
	environ := map[string]string{"TAGIFAI_DATA_DIR": t.TempDir()}
	log, err := serveUntilReady(t, environ, "--artifacts", "artifacts")
	require.NoError(t, err, log)
	assert.Contains(t, log, "imported the model as version 1")

	log, err = serveUntilReady(t, environ, "--artifacts", "artifacts")
	require.NoError(t, err, log)
	assert.Contains(t, log, "--artifacts holds a version the registry has")

	retrained := trainFixture(t, "11")
	log, err = serveUntilReady(t, environ, "--artifacts", retrained)
	require.NoError(t, err, log)
	assert.Contains(t, log, "--artifacts holds a model the registry does not have")
	assert.Regexp(t, `tagifai models upload `+retrained+` --url http://127\.0\.0\.1:\d+ --api-key ADMIN_KEY \(becomes version 2\)`, log)
	assert.Regexp(t, `tagifai models deploy 2 --url http://127\.0\.0\.1:\d+ --api-key ADMIN_KEY`, log)
	assert.Contains(t, log, `"msg":"serving model","model":"tagifai","version":1`)
	assert.Contains(t, log, `ADMIN_KEY=$(tagifai users create --name NAME --role admin --data-dir '`+environ["TAGIFAI_DATA_DIR"]+`')`,
		"the command to make a key opens the registry this server uses")

	log, err = serveUntilReady(t, environ, "--artifacts", retrained, "--import-artifacts")
	require.NoError(t, err, log)
	assert.Contains(t, log, "imported --artifacts as a new version")
	assert.Contains(t, log, `"version":2`)
	assert.Contains(t, log, `"msg":"serving model","model":"tagifai","version":1`, "an import does not deploy")

	log, err = serveUntilReady(t, environ, "--artifacts", retrained)
	require.NoError(t, err, log)
	assert.Contains(t, log, `"msg":"--artifacts holds a version the registry has","path":"`+retrained+`/model.tagifai","version":2,"serving":false`)
}

// TestServeFailedStartLeavesNothing: a start that fails leaves no
// registry behind, and a busy port fails before anything is made.
func TestServeFailedStartLeavesNothing(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
	corrupt := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(corrupt, "model.tagifai"), []byte("not an artifact"), 0o644))

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"busy port", []string{"--addr", busy.Addr().String(), "--artifacts", "artifacts"}, "the address is in use by another process"},
		{"no artifacts", []string{"--addr", "127.0.0.1:0", "--artifacts", filepath.Join(t.TempDir(), "none")}, "has no model.tagifai to start it with"},
		{"corrupt artifact", []string{"--addr", "127.0.0.1:0", "--artifacts", corrupt}, "import"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dataDir := filepath.Join(t.TempDir(), "registry")
			code, _, stderr := runMain(t, map[string]string{"TAGIFAI_DATA_DIR": dataDir}, append([]string{"serve"}, tt.args...)...)
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, "tagifai serve: ")
			assert.Contains(t, stderr, tt.want)
			_, err := os.Stat(dataDir)
			assert.ErrorIs(t, err, os.ErrNotExist, "no half-made registry")
		})
	}
	t.Run("what was there before stays", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		kept := filepath.Join(dataDir, "artifacts", "tagifai", "1.tagifai")
		require.NoError(t, os.MkdirAll(filepath.Dir(kept), 0o755))
		require.NoError(t, os.WriteFile(kept, []byte("kept"), 0o644))
		code, _, _ := runMain(t, map[string]string{"TAGIFAI_DATA_DIR": dataDir}, "serve", "--addr", "127.0.0.1:0", "--artifacts", corrupt)
		assert.Equal(t, 1, code)
		_, err := os.Stat(kept)
		assert.NoError(t, err, "a directory the failed start did not make is left alone")
		_, err = os.Stat(filepath.Join(dataDir, "registry.db"))
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
}
