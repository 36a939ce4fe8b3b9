package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/batch"
	"github.com/tagifai/tagifai/registry"
)

// problemLocations lists the locations of a refusal's problems.
func (r *requestResult) problemLocations() []string {
	var out []string
	errs, _ := r.data()["errors"].([]any)
	for _, e := range errs {
		var parts []string
		for _, p := range e.(map[string]any)["location"].([]any) {
			parts = append(parts, p.(string))
		}
		out = append(out, strings.Join(parts, "."))
	}
	return out
}

// typicalItems returns n items as CSV and as a JSON request, with texts of
// a typical project's length (about 150 characters).
func typicalItems(n int) (csv, js string) {
	var c, j strings.Builder
	c.WriteString("id,text\n")
	j.WriteString(`{"items":[`)
	for i := range n {
		text := fmt.Sprintf("Comparison between YOLO and RCNN on real world videos, number %d. Bringing theory to experiment is cool: train models in colab in minutes.", i)
		fmt.Fprintf(&c, "p%06d,%s\n", i, strings.ReplaceAll(text, ",", ""))
		if i > 0 {
			j.WriteByte(',')
		}
		// The text needs no escaping: encoding/json's item by item would
		// write the same bytes, at many times the cost under -race.
		fmt.Fprintf(&j, `{"id":"p%06d","text":"%s"}`, i, text)
	}
	j.WriteString(`]}`)
	return c.String(), j.String()
}

// countJobs counts the jobs the registry lists.
func countJobs(t *testing.T, reg testRegistry) int {
	t.Helper()
	jobs, err := reg.Jobs(context.Background(), "", registry.JobKey{}, 1000)
	require.NoError(t, err)
	return len(jobs)
}

// TestBulkBatchJobItemLimit: JSON and CSV share one item limit; a CSV file past
// it is refused with 422 at the first row past it, before anything is
// stored (issue 11, defect 2: CSV had none), and a JSON job at the limit,
// of typical texts, fits the body limit (it used to get 413).
func TestBulkBatchJobItemLimit(t *testing.T) {
	t.Parallel()
	s, reg, _ := newRegistryServer(t, false)
	csv, js := typicalItems(batch.MaxItems)
	extra := csv + "p999999,one item too many\n"

	r := doResult(s, request{method: "POST", path: "/batch-jobs", body: extra, contentType: "text/csv"})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
	assert.Equal(t, typeTooMany, r.problemType())
	assert.Equal(t, []string{fmt.Sprintf("body.line.%d", batch.MaxItems+2)}, r.problemLocations())
	assert.Contains(t, r.problemMessage(), "more than 100000 items")
	assert.Zero(t, countJobs(t, reg), "nothing is stored")

	for _, tc := range []struct{ name, body, contentType string }{
		{"csv", csv, "text/csv"},
		{"json", js, jsonCT},
	} {
		r := doResult(s, request{method: "POST", path: "/batch-jobs", body: tc.body, contentType: tc.contentType})
		require.Equal(t, http.StatusAccepted, r.status, "%s: %.300s", tc.name, r.body)
		assert.Equal(t, float64(batch.MaxItems), r.data()["total"], tc.name)
		// Its work is not this test's: stop it.
		r = doResult(s, request{method: "DELETE", path: r.header.Get("Location")})
		require.Equal(t, http.StatusOK, r.status, r.body)
	}
}

// TestBatchJobControlCharacters: a control character is refused in a CSV
// item as in a JSON one (issue 11, defect 10: CSV items took NUL and
// U+0001), and a JSON item's is reported at the item's own location (it
// was body.texts.0.text).
func TestBatchJobControlCharacters(t *testing.T) {
	t.Parallel()
	s, reg, _ := newRegistryServer(t, false)
	r := doResult(s, request{method: "POST", path: "/batch-jobs", contentType: jsonCT,
		body: `{"items":[{"id":"a","text":"fine"},{"id":"b","text":"also fine"},{"id":"c","text":"nul\u0000inside"},{"id":"d","text":"\u0001ok"}]}`})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
	assert.Equal(t, []string{"body.items.2.text", "body.items.3.text"}, r.problemLocations())
	assert.Contains(t, r.problemMessage(), "U+0000")

	r = doResult(s, request{method: "POST", path: "/batch-jobs", contentType: "text/csv",
		body: "id,text\n1,fine\n2,\"start\x01of heading\"\n3,\"nul\x00\"\n4,\"tab\tand\nnewline are text\"\n"})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
	assert.Equal(t, []string{"body.line.3", "body.line.4"}, r.problemLocations())
	assert.Contains(t, r.problemMessage(), "U+0001")
	assert.Zero(t, countJobs(t, reg))
}

// TestBatchJobIdempotencyKey: a retry under the same Idempotency-Key gets
// the job the first request created, and creates nothing; another request
// under that key is refused with 409 (issue 11, defect 4).
func TestBatchJobIdempotencyKey(t *testing.T) {
	t.Parallel()
	s, reg, _ := newRegistryServer(t, false)
	key := http.Header{"Idempotency-Key": {"3f6c2a9e-8d14-4b7a-9f0e-5c2d1b7a6e40"}}
	body := `{"items":[{"id":"k1","text":"Transfer learning with transformers"}]}`
	first := doResult(s, request{method: "POST", path: "/batch-jobs", body: body, contentType: jsonCT, header: key})
	require.Equal(t, http.StatusAccepted, first.status, first.body)
	assert.Empty(t, first.header.Get("Idempotent-Replayed"))
	again := doResult(s, request{method: "POST", path: "/batch-jobs", body: body, contentType: jsonCT, header: key})
	require.Equal(t, http.StatusAccepted, again.status, again.body)
	assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	assert.Equal(t, first.data()["id"], again.data()["id"])
	assert.Equal(t, first.header.Get("Location"), again.header.Get("Location"))
	csvAgain := doResult(s, request{method: "POST", path: "/batch-jobs", body: "id,text\nk1,Transfer learning with transformers\n", contentType: "text/csv", header: key})
	require.Equal(t, http.StatusAccepted, csvAgain.status, csvAgain.body)
	assert.Equal(t, first.data()["id"], csvAgain.data()["id"], "the same items as CSV are the same request")
	assert.Equal(t, 1, countJobs(t, reg))

	other := doResult(s, request{method: "POST", path: "/batch-jobs", body: `{"items":[{"id":"k2","text":"Object detection"}]}`, contentType: jsonCT, header: key})
	require.Equal(t, http.StatusConflict, other.status, other.body)
	assert.Equal(t, []string{"header.Idempotency-Key"}, other.problemLocations())
	assert.Contains(t, other.problemMessage(), first.data()["id"].(string))
	pinned := doResult(s, request{method: "POST", path: "/batch-jobs", body: `{"items":[{"id":"k1","text":"Transfer learning with transformers"}],"version":1}`, contentType: jsonCT, header: key})
	assert.Equal(t, http.StatusConflict, pinned.status, "naming the version is another request: %s", pinned.body)

	for _, bad := range []string{"", strings.Repeat("k", 256), "with space"} {
		r := doResult(s, request{method: "POST", path: "/batch-jobs", body: body, contentType: jsonCT, header: http.Header{"Idempotency-Key": {bad}}})
		assert.Equal(t, http.StatusUnprocessableEntity, r.status, "%q: %s", bad, r.body)
		if bad == "with space" {
			errs := r.data()["errors"].([]any)
			require.Len(t, errs, 1)
			assert.Equal(t, "must be printable ASCII without spaces", errs[0].(map[string]any)["message"])
		}
	}
	assert.Equal(t, 1, countJobs(t, reg))
}

// TestBatchJobBurst: under a burst of submissions every job stored is
// answered 202 with its id, and every 202 names a stored job (issue 11,
// defect 4: some stored jobs were answered 503).
func TestBatchJobBurst(t *testing.T) {
	t.Parallel()
	s, reg, _ := newRegistryServer(t, false)
	const n = 40
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := doResult(s, request{method: "POST", path: "/batch-jobs", contentType: jsonCT,
				body: fmt.Sprintf(`{"items":[{"id":"burst-%d","text":"Serving models at scale"}]}`, i)})
			if assert.Equal(t, http.StatusAccepted, r.status, r.body) {
				ids[i] = r.data()["id"].(string)
			}
		}()
	}
	wg.Wait()
	jobs, err := reg.Jobs(context.Background(), "", registry.JobKey{}, 1000)
	require.NoError(t, err)
	var stored []string
	for _, j := range jobs {
		stored = append(stored, j.ID)
	}
	assert.ElementsMatch(t, ids, stored)
}

// TestBatchJobMediaTypeCase: media types are case-insensitive (RFC 9110),
// so a batch job sent as APPLICATION/JSON or Text/Csv, with or without a
// charset, is taken as its lower-case form (it was a 500: the generated
// handler matched neither type and the handler read a nil CSV body).
func TestBatchJobMediaTypeCase(t *testing.T) {
	t.Parallel()
	s, _, _ := newRegistryServer(t, false)
	const js, csv = `{"items":[{"id":"a","text":"Object detection"}]}`, "id,text\na,Object detection\n"
	for _, tc := range []struct{ contentType, body string }{
		{"application/json", js},
		{"APPLICATION/JSON", js},
		{"application/Json", js},
		{"Application/JSON; charset=UTF-8", js},
		{"text/csv", csv},
		{"Text/Csv", csv},
		{"TEXT/CSV;charset=utf-8", csv},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			t.Parallel()
			r := doResult(s, request{method: "POST", path: "/batch-jobs", body: tc.body, contentType: tc.contentType})
			require.Equal(t, http.StatusAccepted, r.status, r.body)
			assert.Equal(t, float64(1), r.data()["total"])
		})
	}
	r := doResult(s, request{method: "POST", path: "/batch-jobs", body: csv, contentType: "Text/Plain"})
	assert.Equal(t, http.StatusUnsupportedMediaType, r.status, r.body)
}

// TestBatchJobDuplicateIDs: a job stores one prediction per item id, so a
// job that gives an id twice is refused with 422 at each repeat, before
// anything is stored (audit F5: it was taken, and the second item was
// never predicted while the job counted it done). Ids that differ only in
// case or white space are different ids.
func TestBatchJobDuplicateIDs(t *testing.T) {
	t.Parallel()
	s, reg, _ := newRegistryServer(t, false)
	for _, tc := range []struct {
		name, body, contentType string
		locations               []string
		message                 string
	}{
		{"JSON", `{"items":[{"id":"jd","text":"object detection"},{"id":"other","text":"x"},{"id":"jd","text":"bert nlp transformers"},{"id":"jd","text":"again"}]}`, jsonCT,
			[]string{"body.items.2.id", "body.items.3.id"}, `id "jd" repeats item 0`},
		{"CSV", "id,text\nd1,hello\nd2,there\nd1,world\n", "text/csv",
			[]string{"body.line.4"}, `item "d1": id repeats line 2`},
		{"CSV, Made With ML columns", "id,created_on,title,description,tag\n6,2020,YOLO,detection,cv\n6,2020,BERT,NER,nlp\n", "text/csv",
			[]string{"body.line.3"}, `item "6": id repeats line 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := doResult(s, request{method: "POST", path: "/batch-jobs", body: tc.body, contentType: tc.contentType})
			require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
			assert.Equal(t, typeInvalid, r.problemType())
			assert.Equal(t, tc.locations, r.problemLocations())
			assert.Contains(t, r.problemMessage(), tc.message)
		})
	}
	assert.Zero(t, countJobs(t, reg), "nothing is stored")

	r := doResult(s, request{method: "POST", path: "/batch-jobs", contentType: jsonCT,
		body: `{"items":[{"id":"jd","text":"a"},{"id":"JD","text":"b"},{"id":"jd ","text":"c"}]}`})
	require.Equal(t, http.StatusAccepted, r.status, r.body)
	assert.Equal(t, float64(3), r.data()["total"])
}
