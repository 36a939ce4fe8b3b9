package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/registry"
)

// serveCommittedModel serves the committed model in artifacts/ on a real
// loopback listener until the test ends, demanding a predictor's key when
// requireAuth is set. It returns the base URL and the key of a predictor.
func serveCommittedModel(t *testing.T, requireAuth bool) (baseURL, key string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	store, err := registry.OpenSQLite(ctx, filepath.Join(dir, "registry.db"))
	require.NoError(t, err)
	reg, err := registry.New(store, filepath.Join(dir, "artifacts"), log)
	require.NoError(t, err)
	_, err = reg.ImportIfEmpty(ctx, "tagifai", "artifacts", "test")
	require.NoError(t, err)
	_, key, err = reg.CreateUser(ctx, "cli-test", registry.RolePredictor)
	require.NoError(t, err)
	svc, err := wire(serveConfig{modelName: "tagifai", requireAuth: requireAuth, batchWorkers: 1, replicaID: "test"}, store, reg, log)
	require.NoError(t, err)
	require.NoError(t, svc.serving.LoadServing(ctx))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- svc.run(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		store.Close()
	})
	return "http://" + ln.Addr().String(), key
}

// TestCLIPredictRemote: predict --url prints, line for line, what predict
// with the same model's artifacts prints, and turns an error response into
// an error that carries the server's problems.
func TestCLIPredictRemote(t *testing.T) {
	t.Parallel()
	texts := []string{
		"Transfer learning with transformers for text classification.",
		"Generative adversarial networks in both PyTorch and TensorFlow.",
		"Serving models with Kubernetes and monitoring drift in production",
	}
	local, stderr, err := runCLI(t, nil, append([]string{"predict", "--artifacts", "artifacts"}, texts...)...)
	require.NoError(t, err, stderr)
	require.Equal(t, len(texts), strings.Count(local, "\n"))

	open, _ := serveCommittedModel(t, false)
	locked, key := serveCommittedModel(t, true)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream is down", http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)

	t.Run("same lines as the local model", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, nil, append([]string{"predict", "--url", open}, texts...)...)
		require.NoError(t, err, stderr)
		assert.Equal(t, local, stdout)
	})
	t.Run("a trailing slash on the URL", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, nil, "predict", "--url", open+"/", texts[0])
		require.NoError(t, err, stderr)
		assert.Equal(t, strings.SplitAfter(local, "\n")[0], stdout)
	})
	t.Run("key from --api-key", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, nil, append([]string{"predict", "--url", locked, "--api-key", key}, texts...)...)
		require.NoError(t, err, stderr)
		assert.Equal(t, local, stdout)
	})
	t.Run("--artifacts wins over TAGIFAI_URL", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, map[string]string{"TAGIFAI_URL": "http://127.0.0.1:1"}, "predict", "--artifacts", "artifacts", texts[0])
		require.NoError(t, err, stderr)
		assert.Equal(t, strings.SplitAfter(local, "\n")[0], stdout)
	})
	t.Run("URL from TAGIFAI_URL", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, map[string]string{"TAGIFAI_URL": open}, "predict", texts[0])
		require.NoError(t, err, stderr)
		assert.Equal(t, strings.SplitAfter(local, "\n")[0], stdout)
	})
	t.Run("key from TAGIFAI_API_KEY", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, map[string]string{"TAGIFAI_API_KEY": key}, "predict", "--url", locked, texts[0])
		require.NoError(t, err, stderr)
		assert.Equal(t, strings.SplitAfter(local, "\n")[0], stdout)
	})

	errorCases := []struct {
		name    string
		environ map[string]string
		args    []string
		want    []string
	}{
		{"blank text is a 422", nil, []string{"--url", open, "fine text", "   "},
			[]string{"POST " + open + "/predict: 422 Unprocessable Entity: ", "body.texts.1.text: ", "(pattern)"}},
		{"text over 10,000 characters is a 422", nil, []string{"--url", open, strings.Repeat("a", 10001)},
			[]string{"422 Unprocessable Entity: ", "body.texts.0.text: ", "(too_long)"}},
		{"no key is a 401", nil, []string{"--url", locked, "text"},
			[]string{"401 Unauthorized: ", "(unauthorized)"}},
		{"unknown key is a 401", map[string]string{"TAGIFAI_API_KEY": "tgf_nope"}, []string{"--url", locked, "text"},
			[]string{"401 Unauthorized: ", "(unauthorized)"}},
		{"no server", nil, []string{"--url", "http://127.0.0.1:1", "text"},
			[]string{"connection refused"}},
		{"no such route", nil, []string{"--url", open + "/api", "text"},
			[]string{"POST " + open + "/api/predict: 404 Not Found: ", "(route_not_found)"}},
		{"not a tagifai server", nil, []string{"--url", proxy.URL, "text"},
			[]string{"POST " + proxy.URL + "/predict: 502 Bad Gateway: \"upstream is down\\n\""}},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runCLI(t, tt.environ, append([]string{"predict"}, tt.args...)...)
			require.Error(t, err)
			assert.False(t, isUsage(err))
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.Empty(t, stdout, "nothing is printed for a failed request")
		})
	}

	usageCases := []struct {
		name string
		args []string
		want string
	}{
		{"URL without a scheme", []string{"--url", "localhost:8000", "text"}, "must be http://HOST:PORT"},
		{"URL of another scheme", []string{"--url", "ftp://localhost:8000", "text"}, "must be http://HOST:PORT"},
		{"both --url and --artifacts", []string{"--url", open, "--artifacts", "artifacts", "text"}, "exclude each other"},
		{"non-positive timeout", []string{"--url", open, "--timeout", "0s", "text"}, "--timeout must be positive"},
	}
	for _, tt := range usageCases {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, nil, append([]string{"predict"}, tt.args...)...)
			require.True(t, isUsage(err), "%v", err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
