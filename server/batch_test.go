package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBatchJobOverHTTP: a job queued over HTTP runs in the background; its
// predictions page in order; lookups answer from the store for the serving
// version only.
func TestBatchJobOverHTTP(t *testing.T) {
	s, _, k := newRegistryServer(t, false)
	_, v2 := artifacts(t)
	var b strings.Builder
	b.WriteString("id,text\n")
	const n = 2300
	for i := range n {
		fmt.Fprintf(&b, "p%04d,Object detection with YOLO and CNNs number %d\n", i, i)
	}
	r := doResult(s, request{method: "POST", path: "/batch-jobs", body: b.String(), contentType: "text/csv"})
	require.Equal(t, http.StatusAccepted, r.status, r.body)
	loc := r.header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/batch-jobs/"), loc)
	assert.Equal(t, "queued", r.data()["status"])

	deadline := time.Now().Add(60 * time.Second)
	for {
		r = doResult(s, request{method: "GET", path: loc})
		require.Equal(t, http.StatusOK, r.status, r.body)
		if st := r.data()["status"]; st == "succeeded" || st == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.Equal(t, "succeeded", r.data()["status"], r.body)
	assert.Equal(t, float64(n), r.data()["done"])
	assert.Equal(t, 1.0, r.data()["progress"])

	var ids []string
	path := loc + "/predictions?limit=1000"
	for pages := 0; pages < 10; pages++ {
		r = doResult(s, request{method: "GET", path: path})
		require.Equal(t, http.StatusOK, r.status, r.body)
		for _, p := range r.data()["predictions"].([]any) {
			ids = append(ids, p.(map[string]any)["item_id"].(string))
		}
		next, ok := r.data()["next_cursor"].(string)
		if !ok {
			break
		}
		path = loc + "/predictions?limit=1000&cursor=" + next
	}
	require.Len(t, ids, n)
	for i, id := range ids {
		require.Equal(t, fmt.Sprintf("p%04d", i), id)
	}

	r = doResult(s, request{method: "GET", path: "/predictions/p0042"})
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "computer-vision", r.data()["predicted_tag"])
	assert.Equal(t, 1.0, r.data()["version"])

	// Serve version 2: version 1's predictions are no answer any more.
	admin := k.as("admin")
	r = doResult(s, request{method: "PUT", path: "/models/tagifai/versions/2", body: string(v2), contentType: "application/octet-stream", header: admin})
	require.Equal(t, http.StatusCreated, r.status, r.body)
	r = doResult(s, request{method: "PUT", path: "/models/tagifai/serving-version", body: `{"version":2}`, contentType: jsonCT, header: admin})
	require.Equal(t, http.StatusOK, r.status, r.body)
	r = doResult(s, request{method: "GET", path: "/predictions/p0042"})
	require.Equal(t, http.StatusNotFound, r.status, r.body)
	assert.Contains(t, r.problemMessage(), "version 2, the serving version")
	assert.Contains(t, r.problemMessage(), "version 1 has one")
}
