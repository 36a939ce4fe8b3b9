package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOIPSharesThePredictPipeline checks that /v2 inference is metered and
// logged like POST /predict, and that client-controlled parts of /v2 paths
// do not become metric labels.
func TestOIPSharesThePredictPipeline(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s := newTestServer(t, true, func(c *testConfig) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })

	rec := do(s, request{method: "POST", path: "/v2/models/tagifai/infer", contentType: jsonCT,
		body: oipTextInput("[3]", `["a CNN", "another CNN", "deploy it"]`), header: http.Header{"X-Request-Id": {"oip-req-1"}}})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "oip-req-1", rec.Header().Get("X-Request-Id"))
	do(s, request{method: "GET", path: "/v2/models/unknown-model-12345"})

	body := do(s, request{method: "GET", path: "/metrics"}).Body.String()
	for _, want := range []string{
		`tagifai_predictions_total{model="tagifai",tag="computer-vision",version="1"} 2`,
		`tagifai_predictions_total{model="tagifai",tag="mlops",version="1"} 1`,
		`tagifai_texts_per_request_sum 3`,
		`tagifai_http_request_duration_seconds_count{code="200",method="POST",route="/v2/models/:model-name/infer"} 1`,
		`tagifai_http_request_duration_seconds_count{code="404",method="GET",route="/v2/models/:model-name"} 1`,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, "12345", "model names from paths must not become label values")

	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &v))
		if v["msg"] == "request" && v["request_id"] == "oip-req-1" {
			line = v
		}
	}
	require.NotNil(t, line, "an access log line for the /v2 request")
	assert.Equal(t, "/v2/models/:model-name/infer", line["route"])
	assert.Equal(t, float64(200), line["status"])
}

// TestOIPAuth checks that /v2 inference needs the same key as POST
// /predict, and that metadata and health stay open like GET /performance.
func TestOIPAuth(t *testing.T) {
	t.Parallel()
	s, _, k := newRegistryServer(t, true)
	body := oipTextInput("[1]", `["a CNN"]`)
	for _, tc := range []struct {
		caller string
		status int
	}{{"anonymous", 401}, {"viewer", 403}, {"predictor", 200}, {"admin", 200}} {
		for _, path := range []string{"/v2/models/tagifai/infer", "/v2/models/tagifai/versions/1/infer"} {
			rec := do(s, request{method: "POST", path: path, body: body, contentType: jsonCT}.withHeader(k.as(tc.caller)))
			assert.Equal(t, tc.status, rec.Code, "%s %s: %s", tc.caller, path, rec.Body.String())
			if tc.status >= 400 {
				var e map[string]any
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
				assert.IsType(t, "", e["error"])
			}
		}
	}
	bad := do(s, request{method: "POST", path: "/v2/models/tagifai/infer", body: body, contentType: jsonCT,
		header: http.Header{"Authorization": {"Bearer not-a-key"}}})
	assert.Equal(t, http.StatusUnauthorized, bad.Code)
	assert.NotContains(t, bad.Body.String(), "not-a-key", "keys are never echoed")
	for _, path := range []string{"/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/tagifai", "/v2/models/tagifai/ready", "/v2/models/tagifai/config"} {
		assert.Equal(t, http.StatusOK, do(s, request{method: "GET", path: path}).Code, path)
	}
}

// TestOIPVersions checks which version answers: the serving one without a
// version in the path, the named one with it, and the metadata's list.
func TestOIPVersions(t *testing.T) {
	t.Parallel()
	s, reg, k := newRegistryServer(t, false)
	_, v2 := artifacts(t)
	_, _, err := reg.Upload(t.Context(), "tagifai", 2, v2, "test")
	require.NoError(t, err)
	infer := func(path string) map[string]any {
		rec := do(s, request{method: "POST", path: path, body: oipTextInput("[1]", `["Object detection with CNNs"]`), contentType: jsonCT}.withHeader(k.as("predictor")))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var out map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
		return out
	}
	assert.Equal(t, "1", infer("/v2/models/tagifai/infer")["model_version"])
	assert.Equal(t, "2", infer("/v2/models/tagifai/versions/2/infer")["model_version"])

	_, md, _ := getJSON(t, s, "/v2/models/tagifai/versions/2")
	assert.Equal(t, []any{"1", "2"}, md["versions"])
	assert.Equal(t, "2", md["parameters"].(map[string]any)["version"])

	require.NoError(t, s.serving.Deploy(t.Context(), "tagifai", 2))
	assert.Equal(t, "2", infer("/v2/models/tagifai/infer")["model_version"], "the versionless path follows the serving version")
	_, md, _ = getJSON(t, s, "/v2/models/tagifai")
	assert.Equal(t, "2", md["parameters"].(map[string]any)["version"])

	for _, v := range []string{"9", "0", "01", "latest", "-1"} {
		rec := do(s, request{method: "GET", path: "/v2/models/tagifai/versions/" + v + "/ready"})
		assert.Equal(t, http.StatusNotFound, rec.Code, "version %s: %s", v, rec.Body.String())
	}
}

// TestOIPOneModel checks that /v2 knows one model, the server's own: a
// model that is only in the registry is unknown on every path, with a
// version or without, and gets the same answer on each.
func TestOIPOneModel(t *testing.T) {
	t.Parallel()
	s, reg, k := newRegistryServer(t, false)
	v1, _ := artifacts(t)
	_, _, err := reg.Upload(t.Context(), "other", 1, v1, "test")
	require.NoError(t, err)
	body := oipTextInput("[1]", `["Object detection with CNNs"]`)
	for _, r := range []request{
		{method: "GET", path: "/v2/models/other"},
		{method: "GET", path: "/v2/models/other/ready"},
		{method: "GET", path: "/v2/models/other/config"},
		{method: "POST", path: "/v2/models/other/infer", body: body, contentType: jsonCT},
		{method: "GET", path: "/v2/models/other/versions/1"},
		{method: "GET", path: "/v2/models/other/versions/1/ready"},
		{method: "GET", path: "/v2/models/other/versions/1/config"},
		{method: "POST", path: "/v2/models/other/versions/1/infer", body: body, contentType: jsonCT},
		{method: "GET", path: "/v2/models/other/versions/9/ready"},
	} {
		rec := do(s, r.withHeader(k.as("predictor")))
		assert.Equal(t, http.StatusNotFound, rec.Code, "%s %s: %s", r.method, r.path, rec.Body.String())
		assert.JSONEq(t, `{"error":"model 'other' is unknown; this server serves 'tagifai'"}`, rec.Body.String(), "%s %s", r.method, r.path)
	}
}

func getJSON(t *testing.T, s *Server, path string) (int, map[string]any, http.Header) {
	t.Helper()
	rec := do(s, request{method: "GET", path: path})
	var out map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	return rec.Code, out, rec.Header()
}

// TestOIPRawBinaryRequest is Triton's test_byte: with
// Inference-Header-Content-Length: 0 the whole body is the one text, and
// the outputs come back binary.
func TestOIPRawBinaryRequest(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, true)
	rec := do(s, request{method: "POST", path: "/v2/models/tagifai/infer", body: "Object detection with CNNs",
		header: http.Header{oipHeaderLength: {"0"}}})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	n, err := strconv.Atoi(rec.Header().Get(oipHeaderLength))
	require.NoError(t, err)
	raw := rec.Body.Bytes()
	var header struct{ Outputs []struct{ Name string } }
	require.NoError(t, json.Unmarshal(raw[:n], &header))
	assert.Equal(t, "tag", header.Outputs[0].Name)
	size := binary.LittleEndian.Uint32(raw[n:])
	assert.Equal(t, "computer-vision", string(raw[n+4:n+4+int(size)]))
}
