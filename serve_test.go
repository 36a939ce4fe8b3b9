package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

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
		{name: "defaults", check: func(t *testing.T, c serveConfig) {
			assert.Equal(t, ":8000", c.addr)
			assert.Equal(t, "data", c.dataDir)
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
		{name: "unknown flag", args: []string{"--port", "80"}, wantErr: "usage"},
		{name: "stray argument", args: []string{"now"}, wantErr: "usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := env{getenv: func(k string) string { return tc.env[k] }, stdout: io.Discard, stderr: io.Discard}
			cfg, err := parseServeFlags(tc.args, e)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, cfg)
		})
	}
}
