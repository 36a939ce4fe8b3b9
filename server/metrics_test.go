package server

import (
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
		`go_build_info{`,
		`process_resident_memory_bytes`,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, "12345", "raw paths must not become label values")
	assert.True(t, strings.Contains(body, `route="unmatched"`), "unknown routes share one label value")
}
