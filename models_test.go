package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/registry"
)

// serveWithAdmin serves the committed model as version 1 on a loopback
// listener until the test ends, and returns the base URL and an admin's key.
func serveWithAdmin(t *testing.T) (baseURL, key string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	store, err := registry.OpenSQLite(ctx, filepath.Join(dir, "registry.db"))
	require.NoError(t, err)
	reg, err := registry.New(store, filepath.Join(dir, "artifacts"), quietLog())
	require.NoError(t, err)
	_, err = reg.ImportIfEmpty(ctx, "tagifai", "artifacts", "test")
	require.NoError(t, err)
	_, key, err = reg.CreateUser(ctx, "ops", registry.RoleAdmin)
	require.NoError(t, err)
	svc, err := wire(serveConfig{modelName: "tagifai", batchWorkers: 1, replicaID: "test"}, store, reg, quietLog())
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

// trainFixture trains a small model on model/testdata into a new
// directory and returns it.
func trainFixture(t *testing.T, seed string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "v")
	_, stderr, err := runCLI(t, nil, "train", "--data", "model/testdata/train.csv", "--holdout", "model/testdata/holdout.csv",
		"--out", out, "--args", writeFixtureArgs(t), "--seed", seed)
	require.NoError(t, err, stderr)
	return out
}

// TestModelsCommands walks a version through the registry with `tagifai
// models`: upload, deploy, see predictions change version, roll back,
// delete; as text and as JSON; and turns refusals into failures (exit 1).
func TestModelsCommands(t *testing.T) {
	t.Parallel()
	url, key := serveWithAdmin(t)
	v2 := trainFixture(t, "5")
	environ := map[string]string{"TAGIFAI_URL": url, "TAGIFAI_API_KEY": key}
	models := func(t *testing.T, args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runMain(t, environ, append([]string{"models"}, args...)...)
		require.Equal(t, 0, code, stderr)
		return stdout, stderr
	}
	servingVersion := func(t *testing.T) int {
		t.Helper()
		code, stdout, stderr := runMain(t, nil, "predict", "--url", url, "Object detection with YOLO")
		require.Equal(t, 0, code, stderr)
		status, body := getJSON(t, url+"/", "")
		require.Equal(t, 200, status, stdout)
		return int(body["data"].(map[string]any)["version"].(float64))
	}

	stdout, _ := models(t, "list")
	assert.Regexp(t, `(?m)^MODEL\s+VERSION\s+SERVING`, stdout)
	assert.Regexp(t, `(?m)^tagifai\s+1\s+serving\s`, stdout)

	stdout, stderr := models(t, "upload", v2)
	sum, _, err := fileSHA256(filepath.Join(v2, "model.tagifai"))
	require.NoError(t, err)
	assert.Equal(t, "uploaded tagifai version 2: ", stdout[:len("uploaded tagifai version 2: ")])
	assert.Contains(t, stdout, "checksum (SHA-256) "+sum, "the checksum is the file's SHA-256, as train printed it")
	assert.Contains(t, stderr, "serve it with: tagifai models deploy 2")
	assert.Equal(t, 1, servingVersion(t), "an upload does not deploy")

	stdout, _ = models(t, "upload", filepath.Join(v2, "model.tagifai"), "2")
	assert.Contains(t, stdout, "already had these bytes as tagifai version 2")
	// Without a version, the same bytes again are not a version 3.
	stdout, _ = models(t, "upload", v2)
	assert.Contains(t, stdout, "already had these bytes as tagifai version 2")
	assert.Contains(t, stdout, "nothing uploaded")
	stdout, _ = models(t, "list")
	assert.NotRegexp(t, `(?m)^tagifai\s+3\s`, stdout, "no copy uploaded")

	stdout, _ = models(t, "deploy", "2")
	assert.Equal(t, "tagifai serves version 2 (was 1)\n", stdout)
	assert.Equal(t, 2, servingVersion(t))

	stdout, _ = models(t, "show", "2", "--json")
	var shown struct {
		Version  int    `json:"version"`
		Serving  bool   `json:"serving"`
		Checksum string `json:"checksum"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &shown))
	assert.Equal(t, 2, shown.Version)
	assert.True(t, shown.Serving)
	assert.Equal(t, sum, shown.Checksum)
	stdout, _ = models(t, "show", "2")
	assert.Contains(t, stdout, "2 (serving)")
	assert.Contains(t, stdout, sum)

	stdout, _ = models(t, "rollback")
	assert.Equal(t, "tagifai serves version 1 (was 2)\n", stdout)
	assert.Equal(t, 1, servingVersion(t))

	stdout, _ = models(t, "list", "--json")
	var list struct {
		Versions []struct {
			Version int  `json:"version"`
			Serving bool `json:"serving"`
		} `json:"versions"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &list))
	require.Len(t, list.Versions, 2)
	assert.True(t, list.Versions[0].Serving)
	assert.False(t, list.Versions[1].Serving)

	failures := []struct {
		name    string
		environ map[string]string
		args    []string
		want    string
	}{
		{"delete the serving version", environ, []string{"delete", "1"}, "409 Conflict"},
		{"deploy a version that does not exist", environ, []string{"deploy", "9"}, "404 Not Found"},
		{"roll back below the first version", environ, []string{"rollback"}, "no version below the serving version 1"},
		{"no key", map[string]string{"TAGIFAI_URL": url}, []string{"upload", v2}, "401 Unauthorized"},
		{"no such file", environ, []string{"upload", filepath.Join(t.TempDir(), "nothing")}, "no such file"},
		{"not an artifact", environ, []string{"upload", "README.md", "3"}, "422 Unprocessable Entity"},
	}
	for _, tt := range failures {
		code, stdout, stderr := runMain(t, tt.environ, append([]string{"models"}, tt.args...)...)
		assert.Equal(t, 1, code, tt.name)
		assert.Empty(t, stdout, tt.name)
		assert.Contains(t, stderr, "tagifai models "+tt.args[0]+": ", tt.name)
		assert.Contains(t, stderr, tt.want, tt.name)
	}

	stdout, _ = models(t, "delete", "2")
	assert.Equal(t, "deleted tagifai version 2 (checksum "+sum+")\n", stdout)
	stdout, _ = models(t, "list")
	assert.NotContains(t, stdout, "\ntagifai  2")
	assert.Equal(t, 2, strings.Count(stdout, "\n"), "the header and version 1")
	_, err = os.Stat(v2)
	require.NoError(t, err)
}
