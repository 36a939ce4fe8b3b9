package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
)

// storedPred is a stored prediction of item by version of the committed
// model, with a probability for each of its classes.
func storedPred(version int, item, tag string) registry.StoredPrediction {
	probs := map[string]float64{"computer-vision": 0.125, "mlops": 0.125, "natural-language-processing": 0.125, "other": 0.125}
	probs[tag] = 0.625
	return registry.StoredPrediction{Model: DefaultModelName, Version: version, ItemID: item,
		TextSHA256: fmt.Sprintf("%064x", version*1000+len(item)), Tag: tag, Probabilities: probs,
		CreatedAt: time.Unix(1700000000, 123456789).UTC()}
}

// metricValue returns the value of one sample line of GET /metrics.
func metricValue(t *testing.T, s http.Handler, sample string) string {
	t.Helper()
	rec := do(s, request{method: "GET", path: "/metrics"})
	require.Equal(t, http.StatusOK, rec.Code)
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

// TestStoredPredictionLookups: with the cache on or off, a lookup answers
// the serving version's stored prediction, the same the second time as the
// first, and never another version's, through swaps, rollbacks and a
// version deleted and uploaded again.
func TestStoredPredictionLookups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		items int // serving.Config.StoredCacheItems
	}{
		{name: "cache on", items: serving.DefaultStoredCacheItems},
		{name: "cache off", items: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, reg, k := newRegistryServer(t, false, func(c *testConfig) { c.Serving.StoredCacheItems = tc.items })
			_, v2 := artifacts(t)
			admin := k.as("admin")
			putVersion(t, s, admin, 2, v2)
			_, err := reg.SavePredictions(ctx, []registry.StoredPrediction{
				storedPred(1, "a", "mlops"), storedPred(1, "b", "other"), storedPred(2, "a", "computer-vision"),
			})
			require.NoError(t, err)

			lookup := func(item string) *requestResult {
				t.Helper()
				return doResult(s, request{method: "GET", path: "/predictions/" + item})
			}
			want := map[string]any{
				"item_id": "a", "model": "tagifai", "version": 1.0, "text_sha256": fmt.Sprintf("%064x", 1001),
				"predicted_tag": "mlops", "created_at": "2023-11-14T22:13:20.123456789Z",
				"predicted_probabilities": map[string]any{"computer-vision": 0.125, "mlops": 0.625, "natural-language-processing": 0.125, "other": 0.125},
			}
			var r *requestResult
			ids := map[any]bool{}
			for range 2 { // from the database, then (cache on) from memory
				r = lookup("a")
				require.Equal(t, http.StatusOK, r.status, r.body)
				got := r.data()
				ids[got["prediction_id"]] = true
				delete(got, "prediction_id")
				assert.Equal(t, want, got)
			}
			assert.Len(t, ids, 1, "a stored prediction has one id, however it is read")
			assert.NotContains(t, ids, nil)

			serveVersion(t, s, admin, 2)
			r = lookup("a")
			require.Equal(t, http.StatusOK, r.status, r.body)
			assert.Equal(t, 2.0, r.data()["version"], "version 1's cached answer is not version 2's")
			assert.Equal(t, "computer-vision", r.data()["predicted_tag"])
			r = lookup("b")
			require.Equal(t, http.StatusNotFound, r.status, r.body)
			assert.Contains(t, r.problemMessage(), "version 1 has one")

			serveVersion(t, s, admin, 1) // roll back
			for range 2 {
				r = lookup("a")
				require.Equal(t, http.StatusOK, r.status, r.body)
				got := r.data()
				assert.Contains(t, ids, got["prediction_id"], "the same id after a rollback")
				delete(got, "prediction_id")
				assert.Equal(t, want, got)
			}

			// Version 2 deleted and uploaded again: its old predictions are
			// gone with it.
			r = doResult(s, request{method: "DELETE", path: "/models/tagifai/versions/2", header: admin})
			require.Equal(t, http.StatusOK, r.status, r.body)
			putVersion(t, s, admin, 2, v2)
			serveVersion(t, s, admin, 2)
			r = lookup("a")
			require.Equal(t, http.StatusNotFound, r.status, r.body)
			assert.Contains(t, r.problemMessage(), "version 1 has one")

			// A prediction stored after a miss is found by the next lookup.
			_, err = reg.SavePredictions(ctx, []registry.StoredPrediction{storedPred(2, "a", "other")})
			require.NoError(t, err)
			r = lookup("a")
			require.Equal(t, http.StatusOK, r.status, r.body)
			assert.Equal(t, "other", r.data()["predicted_tag"])

			// Eight lookups. With the cache on, the second lookup of an item
			// by the same serving version is always a hit; the others are
			// hits or misses depending on how far warming got.
			hits, err := strconv.Atoi(metricValue(t, s, `tagifai_stored_prediction_cache_lookups_total{result="hit"}`))
			require.NoError(t, err)
			misses, err := strconv.Atoi(metricValue(t, s, `tagifai_stored_prediction_cache_lookups_total{result="miss"}`))
			require.NoError(t, err)
			if tc.items == 0 {
				assert.Equal(t, [2]int{0, 0}, [2]int{hits, misses})
			} else {
				assert.Equal(t, 8, hits+misses)
				assert.GreaterOrEqual(t, hits, 2)
			}
		})
	}
}
