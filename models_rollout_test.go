package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestModelsRolloutCommand runs a rollout with `tagifai models rollout`:
// a canary, changed to a shadow, shown as text and JSON, aborted; and
// refuses bad arguments and a missing candidate.
func TestModelsRolloutCommand(t *testing.T) {
	t.Parallel()
	url, key := serveWithAdmin(t)
	v2 := trainFixture(t, "5")
	environ := map[string]string{"TAGIFAI_URL": url, "TAGIFAI_API_KEY": key}
	models := func(t *testing.T, wantCode int, args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runMain(t, environ, append([]string{"models"}, args...)...)
		require.Equal(t, wantCode, code, "stdout: %s\nstderr: %s", stdout, stderr)
		return stdout, stderr
	}
	models(t, 0, "upload", v2)

	stdout, _ := models(t, 0, "rollout", "canary", "2", "100")
	assert.Contains(t, stdout, "canary of version 2 at 100%, beside version 1")
	status, body := getJSON(t, url+"/", "")
	require.Equal(t, 200, status)
	assert.EqualValues(t, 1, body["data"].(map[string]any)["version"], "health reports the serving version")

	stdout, _ = models(t, 0, "rollout", "shadow", "2")
	assert.Contains(t, stdout, "shadow of version 2 at 100%")
	stdout, _ = models(t, 0, "rollout", "--json")
	var shown struct {
		Status string `json:"status"`
		Mode   string `json:"mode"`
		Stats  struct {
			Scope string `json:"scope"`
		} `json:"stats"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &shown))
	assert.Equal(t, "active", shown.Status)
	assert.Equal(t, "shadow", shown.Mode)
	assert.Equal(t, "replica", shown.Stats.Scope)

	stdout, _ = models(t, 0, "rollout", "abort")
	assert.Regexp(t, `(?m)^status\s+aborted: aborted by ops$`, stdout)
	assert.Contains(t, stdout, "shadow of version 2 at 100%, ended; version 1 serves now", "an ended rollout is beside nothing")

	_, stderr := models(t, 2, "rollout", "canary", "2")
	assert.Contains(t, stderr, "canary needs VERSION and PERCENT")
	_, stderr = models(t, 2, "rollout", "canary", "2", "101")
	assert.Contains(t, stderr, "PERCENT must be a number from 0 to 100")
	_, stderr = models(t, 1, "rollout", "shadow", "9")
	assert.Contains(t, stderr, "404 Not Found")
	_, stderr = models(t, 1, "rollout", "abort")
	assert.Contains(t, stderr, "no rollout running")
}
