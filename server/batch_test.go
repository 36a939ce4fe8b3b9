package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tagifai/tagifai/registry"
)

// TestBatchJobOverHTTP: a job queued over HTTP runs in the background; its
// predictions page in order; lookups answer from the store for the serving
// version only.
func TestBatchJobOverHTTP(t *testing.T) {
	t.Parallel()
	s, _, k := newRegistryServer(t, false)
	workBatchJobs(t, s)
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

// TestBatchJobListAndDelete: jobs list newest first, a page at a time;
// deleting one stops and forgets it but keeps its predictions, and lets
// its version be deleted.
func TestBatchJobListAndDelete(t *testing.T) {
	t.Parallel()
	s, reg, k := newRegistryServer(t, false)
	workBatchJobs(t, s)
	_, v2 := artifacts(t)
	create := func(body string) string {
		t.Helper()
		r := doResult(s, request{method: "POST", path: "/batch-jobs", body: body, contentType: jsonCT})
		require.Equal(t, http.StatusAccepted, r.status, r.body)
		time.Sleep(2 * time.Millisecond) // distinct creation times
		return r.data()["id"].(string)
	}
	var ids []string
	for i := range 3 {
		ids = append(ids, create(fmt.Sprintf(`{"items":[{"id":"job%d-item","text":"Object detection with YOLO"}]}`, i)))
	}
	list := func(query string) ([]string, string) {
		t.Helper()
		r := doResult(s, request{method: "GET", path: "/batch-jobs" + query})
		require.Equal(t, http.StatusOK, r.status, r.body)
		var got []string
		for _, j := range r.data()["jobs"].([]any) {
			got = append(got, j.(map[string]any)["id"].(string))
		}
		next, _ := r.data()["next_cursor"].(string)
		return got, next
	}
	page, next := list("?limit=2")
	assert.Equal(t, []string{ids[2], ids[1]}, page, "newest first")
	require.NotEmpty(t, next)
	page, next = list("?limit=2&cursor=" + next)
	assert.Equal(t, []string{ids[0]}, page)
	assert.Empty(t, next, "the last page")

	require.Eventually(t, func() bool {
		page, _ := list("?status=succeeded")
		return len(page) == 3
	}, 30*time.Second, 10*time.Millisecond)
	r := doResult(s, request{method: "DELETE", path: "/batch-jobs/" + ids[1]})
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "succeeded", r.data()["status"])
	r = doResult(s, request{method: "GET", path: "/batch-jobs/" + ids[1]})
	assert.Equal(t, http.StatusNotFound, r.status, r.body)
	page, _ = list("")
	assert.Equal(t, []string{ids[2], ids[0]}, page)
	r = doResult(s, request{method: "GET", path: "/predictions/job1-item"})
	assert.Equal(t, http.StatusOK, r.status, "a deleted job's predictions stay: %s", r.body)

	// A job that holds version 2 from being deleted, until it is deleted.
	admin := k.as("admin")
	r = doResult(s, request{method: "PUT", path: "/models/tagifai/versions/2", body: string(v2), contentType: "application/octet-stream", header: admin})
	require.Equal(t, http.StatusCreated, r.status, r.body)
	// Queued, worked by no replica of this test.
	const long = "00000000000000bb"
	ctx := context.Background()
	now := time.Now()
	_, _, err := reg.CreateJob(ctx, registry.Job{ID: long, Model: DefaultModelName, Version: 2,
		Status: registry.JobQueued, Total: 1, CreatedBy: "test", CreatedAt: now}, []registry.Item{{ID: "v2-item", Text: "Kubernetes"}}, enqueueNothing)
	require.NoError(t, err)
	r = doResult(s, request{method: "DELETE", path: "/models/tagifai/versions/2", header: admin})
	require.Equal(t, http.StatusConflict, r.status, r.body)
	r = doResult(s, request{method: "DELETE", path: "/batch-jobs/" + long})
	require.Equal(t, http.StatusOK, r.status, r.body)
	r = doResult(s, request{method: "DELETE", path: "/models/tagifai/versions/2", header: admin})
	require.Equal(t, http.StatusOK, r.status, r.body)
}

// TestBatchJobIDOfAnotherText: a job that names an id the version has a
// stored prediction for, of another text, is refused with 409 at that item
// before anything is stored (it would have got the old text's prediction
// back); the same id with the same text is taken, as a retry is.
func TestBatchJobIDOfAnotherText(t *testing.T) {
	t.Parallel()
	s, _, _ := newRegistryServer(t, false)
	workBatchJobs(t, s)
	first := `{"items":[{"id":"row-7","text":"Diffusion models for vector graphics"},{"id":"row-8","text":"BERT for sentiment"}]}`
	r := doResult(s, request{method: "POST", path: "/batch-jobs", body: first, contentType: jsonCT})
	require.Equal(t, http.StatusAccepted, r.status, r.body)
	waitForJob(t, s, r.header.Get("Location"))
	before := doResult(s, request{method: "GET", path: "/predictions/row-7"})
	require.Equal(t, http.StatusOK, before.status, before.body)

	for _, tc := range []struct {
		name, body, contentType string
		status                  int
		locations               []string
	}{
		{"JSON, other text", `{"items":[{"id":"new-1","text":"a"},{"id":"row-7","text":"Real-time object detection with YOLO"}]}`, jsonCT,
			http.StatusConflict, []string{"body.items.1.id"}},
		{"CSV, other text", "id,text\nrow-8,Kubernetes for model serving\nnew-2,b\n", "text/csv",
			http.StatusConflict, []string{"body.items.0.id"}},
		{"both, other texts", `{"items":[{"id":"row-8","text":"x"},{"id":"row-7","text":"y"}]}`, jsonCT,
			http.StatusConflict, []string{"body.items.0.id", "body.items.1.id"}},
		{"the same text again", `{"items":[{"id":"row-7","text":"Diffusion models for vector graphics"}]}`, jsonCT,
			http.StatusAccepted, nil},
	} {
		r := doResult(s, request{method: "POST", path: "/batch-jobs", body: tc.body, contentType: tc.contentType})
		require.Equal(t, tc.status, r.status, "%s: %s", tc.name, r.body)
		if tc.locations != nil {
			assert.Equal(t, tc.locations, r.problemLocations(), tc.name)
		}
	}
	after := doResult(s, request{method: "GET", path: "/predictions/row-7"})
	require.Equal(t, http.StatusOK, after.status, after.body)
	assert.Equal(t, before.data(), after.data(), "the stored prediction is the first text's, unchanged")
	jobs := doResult(s, request{method: "GET", path: "/batch-jobs"})
	require.Equal(t, http.StatusOK, jobs.status)
	assert.Len(t, jobs.data()["jobs"], 2, "only the first job and the retry were stored")
}
