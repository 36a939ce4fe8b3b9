package server

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, true)
	rec := do(s, request{method: "POST", path: "/predict", contentType: jsonCT,
		body: `{"texts":[{"text":"a CNN"},{"text":"another CNN"},{"text":"deploy it"}]}`})
	require.Equal(t, http.StatusOK, rec.Code)
	do(s, request{method: "GET", path: "/args/nope"})
	do(s, request{method: "GET", path: "/no/such/page/12345"})

	rec = do(s, request{method: "GET", path: "/metrics"})
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/plain", rec.Header().Get("Content-Type"))
	body := rec.Body.String()
	for _, want := range []string{
		`tagifai_predictions_total{model="tagifai",tag="computer-vision",version="1"} 2`,
		`tagifai_predictions_total{model="tagifai",tag="mlops",version="1"} 1`,
		`tagifai_prediction_confidence_bucket{model="tagifai",version="1",le="0.7"} 3`,
		`tagifai_texts_per_request_sum 3`,
		`tagifai_http_request_duration_seconds_count{code="200",method="POST",route="/predict"} 1`,
		`tagifai_http_request_duration_seconds_count{code="404",method="GET",route="/args/:arg"} 1`,
		`tagifai_http_requests_in_flight 1`, // this request
		`tagifai_model_load_duration_seconds{model="tagifai",version="1"}`,
		// Which version serves, and the series that exist before their
		// first event, at 0.
		`tagifai_serving_version{model="tagifai"} 1`,
		`tagifai_serving_changes_total{model="tagifai"} 1`,
		`tagifai_rollout_shadow_dropped_total{model="tagifai"} 0`,
		`tagifai_rollout_shadow_compared_total{model="tagifai"} 0`,
		`tagifai_batch_jobs_total{status="succeeded"} 0`,
		`tagifai_batch_jobs_total{status="failed"} 0`,
		`go_build_info{`,
		`process_resident_memory_bytes`,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, "12345", "raw paths must not become label values")
	assert.True(t, strings.Contains(body, `route="unmatched"`), "unknown routes share one label value")
}

// TestMetricsFollowDeployments: /metrics says which version serves and
// how many times that changed, so that a replica that stopped following
// deployments stands out among its peers.
func TestMetricsFollowDeployments(t *testing.T) {
	t.Parallel()
	s, _, k := newRegistryServer(t, false)
	_, v2 := artifacts(t)
	admin := k.as("admin")
	r := doResult(s, request{method: "PUT", path: "/models/tagifai/versions/2", body: string(v2), contentType: "application/octet-stream", header: admin})
	require.Equal(t, http.StatusCreated, r.status, r.body)
	for _, v := range []string{"2", "1"} {
		r = doResult(s, request{method: "PUT", path: "/models/tagifai/serving-version", body: `{"version":` + v + `}`, contentType: jsonCT, header: admin})
		require.Equal(t, http.StatusOK, r.status, r.body)
	}
	body := do(s, request{method: "GET", path: "/metrics"}).Body.String()
	assert.Contains(t, body, `tagifai_serving_version{model="tagifai"} 1`)
	assert.Contains(t, body, `tagifai_serving_changes_total{model="tagifai"} 3`, "the first load, a deployment and a rollback")
}

// TestBulkMetricsStayBounded: no request can add label values. After a first
// round of random requests has met each route, method class and status
// once, 10,000 more requests (same seed, so the test is deterministic) with random methods, paths, headers and query
// strings leave /metrics the same size, within a few lines.
func TestBulkMetricsStayBounded(t *testing.T) {
	t.Parallel()
	// A server that logs nothing: 15,000 access-log lines would only fill
	// the test's output.
	s := newTestServer(t, true, func(c *testConfig) { c.Logger = slog.New(slog.DiscardHandler) })
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!$&'*+"
	word := func(n int) string {
		b := make([]byte, 1+rng.IntN(n))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "MADE-UP"}
	bodies := []string{"", "{}", "x", `{"texts":[]}`, `{"texts":[{"text":"a CNN"}]}`}
	paths := []string{"/", "/predict", "/args", "/args/", "/metrics", "/performance", "/health/ready",
		"/models", "/models/", "/batch-jobs", "/predictions/", "/users/", "/docs", "/docs/"}
	random := func() request {
		method := methods[rng.IntN(len(methods))]
		if rng.IntN(2) == 0 {
			method = strings.ToUpper(word(40)) // a made-up method
		}
		path := paths[rng.IntN(len(paths))]
		if rng.IntN(2) == 0 {
			path += word(30)
		}
		if rng.IntN(2) == 0 {
			path += "?" + word(10) + "=" + word(20)
		}
		h := http.Header{}
		for range rng.IntN(4) {
			h.Set("X-"+word(10), word(30))
		}
		return request{method: method, path: path, header: h, body: bodies[rng.IntN(len(bodies))], contentType: jsonCT}
	}
	series := func() map[string]bool {
		rec := do(s, request{method: "GET", path: "/metrics"})
		require.Equal(t, http.StatusOK, rec.Code)
		out := map[string]bool{}
		for _, l := range strings.Split(rec.Body.String(), "\n") {
			if strings.HasPrefix(l, "tagifai_http_request_duration_seconds_count") {
				out[l[:strings.LastIndexByte(l, ' ')]] = true
			}
		}
		return out
	}
	lines := func() int {
		rec := do(s, request{method: "GET", path: "/metrics"})
		require.Equal(t, http.StatusOK, rec.Code)
		return strings.Count(rec.Body.String(), "\n")
	}
	// Meet every route, method and status once.
	for _, method := range methods {
		for _, path := range paths {
			for _, suffix := range []string{"", "x"} {
				for _, body := range bodies {
					do(s, request{method: method, path: path + suffix, body: body, contentType: jsonCT})
				}
			}
		}
	}
	before, beforeSeries := lines(), series()
	for range 10000 {
		do(s, random())
	}
	after := lines()
	for k := range series() {
		assert.True(t, beforeSeries[k], "new series %s", k)
	}
	t.Logf("/metrics: %d lines after the first round, %d after 10,000 more requests", before, after)
	assert.InDelta(t, before, after, 5, "/metrics grew from %d to %d lines", before, after)
	rec := do(s, request{method: "GET", path: "/metrics"})
	assert.Contains(t, rec.Body.String(), `method="OTHER"`, "made-up methods share one label value")
}
