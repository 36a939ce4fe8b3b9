package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// TestMonitoringWithoutBaseline: a version whose artifact predates
// baselines says so and has no drift tests, its window summarised all the
// same; the serving version comes first.
func TestMonitoringWithoutBaseline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := emptyDatabase(t)
	s := newMonitoredReplica(t, func() (*registry.SQLStore, error) { return registry.OpenSQLite(ctx, path) }, committedArtifactDir)
	old, err := os.ReadFile(filepath.Join("..", "model", "testdata", "format1.tagifai"))
	require.NoError(t, err)
	art, err := model.Decode(strings.NewReader(string(old)))
	require.NoError(t, err)
	require.Nil(t, art.Baseline)
	_, _, err = s.reg.Upload(ctx, DefaultModelName, 2, old, "test")
	require.NoError(t, err)
	s.predict(t, "/models/tagifai/versions/2/predictions", []string{"A transformer for text", "Object detection"})

	var resp gen.MonitoringEnvelope
	s.call(t, request{method: "GET", path: "/monitoring?version=2"}, "viewer", http.StatusOK, &resp)
	require.Len(t, resp.Data.Versions, 2)
	serving, named := resp.Data.Versions[0], resp.Data.Versions[1]
	assert.True(t, serving.Serving)
	assert.Equal(t, 1, serving.Version)
	assert.True(t, serving.HasBaseline)
	assert.False(t, named.Serving)
	assert.Equal(t, 2, named.Version)
	assert.False(t, named.HasBaseline)
	assert.Empty(t, named.Drift)
	assert.Nil(t, named.Signals.Baseline)
	assert.False(t, named.Drifted)
	require.Eventually(t, func() bool {
		s.call(t, request{method: "GET", path: "/monitoring?version=2"}, "viewer", http.StatusOK, &resp)
		return resp.Data.Versions[1].Window.Observed == 2
	}, 20*time.Second, 10*time.Millisecond)
	assert.Equal(t, 2, resp.Data.Versions[1].Signals.Window.Count)
}
