package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUsersCreateBesideARunningServer: readiness probes of a running
// server, with `tagifai users create` run beside it between them, as the
// README does, lose nothing: every key made works at once, the server's
// write-ahead log stays in place, and every user the API created is there
// after a restart.
func TestUsersCreateBesideARunningServer(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	createAdmin(t, dataDir)
	p := startServe(t, dataDir)
	var keys []string
	for i := range 4 {
		code, _ := getJSON(t, p.url+"/health/ready", "")
		require.Equal(t, http.StatusOK, code)
		stdout, stderr, err := runCLI(t, nil, "users", "create", "--data-dir", dataDir, "--name", fmt.Sprintf("cli-%d", i), "--role", "admin")
		require.NoError(t, err, stderr) // the test's process: another than the server's
		keys = append(keys, strings.TrimSpace(stdout))
		for j, key := range keys {
			code, body := getJSON(t, p.url+"/users", key)
			require.Equal(t, http.StatusOK, code, "round %d, key %d: %v", i, j, body)
		}
		req, err := http.NewRequest("POST", p.url+"/users", strings.NewReader(fmt.Sprintf(`{"name":"api-%d","role":"viewer"}`, i)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+keys[0])
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusCreated, res.StatusCode, "round %d", i)
		_, err = os.Stat(filepath.Join(dataDir, "registry.db-wal"))
		require.NoError(t, err, "round %d: the server's write-ahead log was deleted", i)
	}

	p.kill9(t)
	p = startServe(t, dataDir)
	code, body := getJSON(t, p.url+"/users", keys[len(keys)-1])
	require.Equal(t, http.StatusOK, code, "%v", body)
	var names []string
	for _, u := range body["data"].(map[string]any)["users"].([]any) {
		names = append(names, u.(map[string]any)["name"].(string))
	}
	for i := range 4 {
		assert.Contains(t, names, fmt.Sprintf("api-%d", i))
	}
}
