package server

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/gen"
)

// TestEveryAcceptedItemIDIsRetrievable: the spec's one rule for item ids
// (ItemId) holds at intake (JSON and CSV) and at lookup. Every id a batch
// job accepts, reserved URL characters and 128 multi-byte characters
// included, is found again by GET /predictions/{item-id} through the
// generated client; every id refused at intake is refused by the lookup
// too, with the same problem type.
func TestEveryAcceptedItemIDIsRetrievable(t *testing.T) {
	t.Parallel()
	s, _, _ := newRegistryServer(t, false)
	workBatchJobs(t, s)
	accepted := []string{
		"6", "a/", "/", "a/b", "a b", " padded ", "a%2Fb", "100%", "q?x=1", "frag#1", "a;b,c", "a+b", "~",
		"...", ".a", "a.", "back\\slash", `"quoted"`, "emoji😀", strings.Repeat("ü", 128), strings.Repeat("日本", 64),
	}
	items := make([]gen.BatchItem, len(accepted))
	for i, id := range accepted {
		items[i] = gen.BatchItem{Id: id, Text: "Object detection with YOLO"}
	}
	body, err := json.Marshal(gen.BatchJobRequest{Items: items})
	require.NoError(t, err)
	r := doResult(s, request{method: "POST", path: "/batch-jobs", body: string(body), contentType: jsonCT})
	require.Equal(t, http.StatusAccepted, r.status, r.body)
	waitForJob(t, s, r.header.Get("Location"))

	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	client, err := gen.NewClientWithResponses(ts.URL)
	require.NoError(t, err)
	for _, id := range accepted {
		res, err := client.GetStoredPredictionWithResponse(context.Background(), id)
		require.NoError(t, err)
		if assert.Equal(t, http.StatusOK, res.StatusCode(), "id %q: %s", id, res.Body) {
			assert.Equal(t, id, res.JSON200.Data.ItemId)
		}
	}

	refused := map[string]string{
		"":                       "too_short",
		".":                      "pattern",
		"..":                     "pattern",
		"nul\x00":                "pattern",
		"tab\there":              "pattern",
		"c1\u0085x":              "pattern",
		strings.Repeat("ü", 129): "too_long",
		strings.Repeat("a", 129): "too_long",
	}
	for id, typ := range refused {
		b, err := json.Marshal(gen.BatchJobRequest{Items: []gen.BatchItem{{Id: id, Text: "x"}}})
		require.NoError(t, err)
		r := doResult(s, request{method: "POST", path: "/batch-jobs", body: string(b), contentType: jsonCT})
		assert.Equal(t, http.StatusUnprocessableEntity, r.status, "intake of %q: %s", id, r.body)
		assert.Equal(t, typ, r.problemType(), "intake of %q: %s", id, r.body)

		var csvBody strings.Builder
		w := csv.NewWriter(&csvBody)
		require.NoError(t, w.WriteAll([][]string{{"id", "text"}, {id, "Object detection"}}))
		r = doResult(s, request{method: "POST", path: "/batch-jobs", body: csvBody.String(), contentType: "text/csv"})
		assert.Equal(t, http.StatusUnprocessableEntity, r.status, "CSV intake of %q: %s", id, r.body)

		if id == "" || id == "." || id == ".." {
			continue // no path segment names them
		}
		res, err := client.GetStoredPredictionWithResponse(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode(), "lookup of %q: %s", id, res.Body)
		assert.Equal(t, typ, (&requestResult{body: string(res.Body)}).problemType(), "lookup of %q", id)
	}

	// A CSV job takes the same ids as a JSON one.
	var csvBody strings.Builder
	w := csv.NewWriter(&csvBody)
	require.NoError(t, w.Write([]string{"id", "text"}))
	for _, id := range []string{"csv/", "csv " + strings.Repeat("é", 124)} {
		require.NoError(t, w.Write([]string{id, "Kubernetes deployment"}))
	}
	w.Flush()
	r = doResult(s, request{method: "POST", path: "/batch-jobs", body: csvBody.String(), contentType: "text/csv"})
	require.Equal(t, http.StatusAccepted, r.status, r.body)
	waitForJob(t, s, r.header.Get("Location"))
	for _, id := range []string{"csv/", "csv " + strings.Repeat("é", 124)} {
		res, err := client.GetStoredPredictionWithResponse(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, res.StatusCode(), "id %q: %s", id, res.Body)
	}

	// A path parameter that is not UTF-8 once decoded is refused, not
	// looked up.
	res, err := http.Get(ts.URL + "/predictions/%FF")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
}

// waitForJob waits until the batch job at location has succeeded.
func waitForJob(t *testing.T, s http.Handler, location string) {
	t.Helper()
	require.Eventually(t, func() bool {
		r := doResult(s, request{method: "GET", path: location})
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.NotEqual(t, "failed", r.data()["status"], r.body)
		return r.data()["status"] == "succeeded"
	}, 30*time.Second, 10*time.Millisecond)
}

// TestCheckItemID: ids read outside the API (tagifai batch) follow the
// spec's rule too.
func TestCheckItemID(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{
		"6": true, "a/": true, "...": true, strings.Repeat("ü", 128): true,
		"": false, ".": false, "..": false, "a\x00": false, strings.Repeat("ü", 129): false,
	} {
		err := CheckItemID(id)
		assert.Equal(t, ok, err == nil, "id %q: %v", id, err)
	}
}

// TestItemIDRuleParity: a JSON batch, a CSV batch and a lookup apply one
// rule to an id, and an id a batch takes is stored as it was given. A CSV
// id ending in U+0085 was trimmed to another id and taken, while JSON and
// the lookup refuse it.
func TestItemIDRuleParity(t *testing.T) {
	t.Parallel()
	s, _, _ := newRegistryServer(t, false)
	workBatchJobs(t, s)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	client, err := gen.NewClientWithResponses(ts.URL)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, id string
		ok       bool
	}{
		{"plain", "parity", true},
		{"C0 start of heading", "x\x01", false},
		{"C0 tab", "x\ty", false},
		{"C0 line feed", "x\ny", false},
		{"trailing carriage return", "x\r", false},
		{"DEL", "x\x7f", false},
		{"C1 first", "x\u0080", false},
		{"C1 NEL at the end", "x\u0085", false},
		{"C1 NEL at the start", "\u0085x", false},
		{"C1 last", "x\u009f", false},
		{"no-break space at the end", "nbsp\u00a0", true},
		{"line separator at the end", "ls\u2028", true},
		{"paragraph separator", "p\u2029s", true},
		{"spaces around", " spaced ", true},
		{"only spaces", "   ", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			js, err := json.Marshal(gen.BatchJobRequest{Items: []gen.BatchItem{{Id: tc.id, Text: "Object detection with YOLO"}}})
			require.NoError(t, err)
			var csvBody strings.Builder
			w := csv.NewWriter(&csvBody)
			require.NoError(t, w.WriteAll([][]string{{"id", "text"}, {tc.id, "Object detection with YOLO"}}))
			for _, in := range []struct{ format, body, contentType string }{
				{"JSON", string(js), jsonCT},
				{"CSV", csvBody.String(), "text/csv"},
			} {
				r := doResult(s, request{method: "POST", path: "/batch-jobs", body: in.body, contentType: in.contentType})
				if !tc.ok {
					assert.Equal(t, http.StatusUnprocessableEntity, r.status, "%s intake of %q: %s", in.format, tc.id, r.body)
					continue
				}
				require.Equal(t, http.StatusAccepted, r.status, "%s intake of %q: %s", in.format, tc.id, r.body)
				waitForJob(t, s, r.header.Get("Location"))
				page := doResult(s, request{method: "GET", path: r.header.Get("Location") + "/predictions"})
				require.Equal(t, http.StatusOK, page.status, page.body)
				preds, _ := page.data()["predictions"].([]any)
				require.Len(t, preds, 1, page.body)
				assert.Equal(t, tc.id, preds[0].(map[string]any)["item_id"], "%s stores the id as given", in.format)
			}
			res, err := client.GetStoredPredictionWithResponse(context.Background(), tc.id)
			require.NoError(t, err)
			want := http.StatusOK
			if !tc.ok {
				want = http.StatusUnprocessableEntity
			}
			assert.Equal(t, want, res.StatusCode(), "lookup of %q: %s", tc.id, res.Body)
			if tc.ok && res.JSON200 != nil {
				assert.Equal(t, tc.id, res.JSON200.Data.ItemId)
			}
			assert.Equal(t, tc.ok, CheckItemID(tc.id) == nil, "CheckItemID(%q)", tc.id)
		})
	}
}
