package server

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oipBinaryRequest frames a binary tensor data request: the JSON header,
// then the raw tensors, with Inference-Header-Content-Length.
func oipBinaryRequest(path, header string, tensors ...[]byte) request {
	body := header
	for _, t := range tensors {
		body += string(t)
	}
	return request{method: "POST", path: path, body: body,
		header: http.Header{oipHeaderLength: {strconv.Itoa(len(header))}}}
}

// bytesTensor encodes strings as a BYTES tensor: each a 4-byte
// little-endian length and the bytes.
func bytesTensor(ss ...string) []byte {
	var out []byte
	for _, s := range ss {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	return out
}

// expectOIPError checks a /v2 error body: {"error": "..."} mentioning msg.
func expectOIPError(msg string) func(*testing.T, map[string]any) {
	return func(t *testing.T, body map[string]any) {
		t.Helper()
		got, ok := body["error"].(string)
		require.True(t, ok, "no string error in %v", body)
		assert.Contains(t, got, msg)
	}
}

// oipContractCases covers every documented status of every /v2 operation.
func oipContractCases() []contractCase {
	const infer, vinfer = "/v2/models/tagifai/infer", "/v2/models/tagifai/versions/1/infer"
	jsonInfer := `{"id":"r1","inputs":[{"name":"text","datatype":"BYTES","shape":[2],"data":["Object detection with CNNs","BERT transformers"]}]}`
	binHeader := `{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":17}}],"parameters":{"binary_data_output":true}}`
	binInfer := func(path string) request { return oipBinaryRequest(path, binHeader, bytesTensor("YOLO with CNN")) }
	huge := `{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["` + strings.Repeat("a", DefaultMaxBodyBytes) + `"]}]}`
	get := func(path string) request { return request{method: "GET", path: path} }
	post := func(path, body, ct string) request {
		return request{method: "POST", path: path, body: body, contentType: ct}
	}
	c := func(name, op string, r request, status int, check func(*testing.T, map[string]any)) contractCase {
		return contractCase{name: "oip " + name, op: op, req: r, status: status, check: check}
	}
	failing := func(name, op string, r request) contractCase {
		tc := c(name+" failure", op, r, 500, expectOIPError("internal error"))
		tc.failing = true
		return tc
	}
	notReady := func(name, op string, r request) contractCase {
		tc := c(name+" not ready", op, r, 503, expectOIPError("no model is loaded yet"))
		tc.notReady = true
		return tc
	}
	withRegistry := func(tc contractCase, caller string, requireAuth bool) contractCase {
		tc.registry, tc.caller, tc.requireAuth = true, caller, requireAuth
		return tc
	}
	isReady := func(t *testing.T, body map[string]any) { assert.Equal(t, true, body["ready"]) }

	cases := []contractCase{
		c("server metadata", "oipServerMetadata", get("/v2"), 200, func(t *testing.T, body map[string]any) {
			assert.Equal(t, "tagifai", body["name"])
			assert.ElementsMatch(t, []any{"binary_tensor_data", "classification"}, body["extensions"])
		}),
		c("server metadata wrong method", "oipServerMetadata", request{method: "DELETE", path: "/v2"}, 405, expectOIPError("not allowed")),
		failing("server metadata", "oipServerMetadata", get("/v2")),

		c("live", "oipServerLive", get("/v2/health/live"), 200, func(t *testing.T, body map[string]any) { assert.Equal(t, true, body["live"]) }),
		{name: "oip live without a model", op: "oipServerLive", req: get("/v2/health/live"), status: 200, notReady: true},
		c("live wrong method", "oipServerLive", request{method: "POST", path: "/v2/health/live"}, 405, expectOIPError("not allowed")),
		failing("live", "oipServerLive", get("/v2/health/live")),

		c("ready", "oipServerReady", get("/v2/health/ready"), 200, isReady),
		c("ready wrong method", "oipServerReady", request{method: "PUT", path: "/v2/health/ready"}, 405, expectOIPError("not allowed")),
		failing("ready", "oipServerReady", get("/v2/health/ready")),
		notReady("ready", "oipServerReady", get("/v2/health/ready")),
	}
	for _, p := range []struct{ op, path, ok string }{
		{"oipModelMetadata", "/v2/models/%s", ""},
		{"oipModelVersionMetadata", "/v2/models/%s/versions/1", ""},
		{"oipModelReady", "/v2/models/%s/ready", ""},
		{"oipModelVersionReady", "/v2/models/%s/versions/1/ready", ""},
		{"oipModelConfig", "/v2/models/%s/config", ""},
		{"oipModelVersionConfig", "/v2/models/%s/versions/1/config", ""},
	} {
		path := func(name string) string { return strings.Replace(p.path, "%s", name, 1) }
		var check func(*testing.T, map[string]any)
		switch p.op {
		case "oipModelMetadata", "oipModelVersionMetadata":
			check = func(t *testing.T, body map[string]any) {
				assert.Equal(t, "tagifai", body["name"])
				assert.Equal(t, []any{"1"}, body["versions"])
				params := body["parameters"].(map[string]any)
				assert.Equal(t, "1", params["version"])
				assert.Len(t, params["labels"], len(fakeClasses))
			}
		case "oipModelConfig", "oipModelVersionConfig":
			check = func(t *testing.T, body map[string]any) { assert.Equal(t, float64(1000), body["max_batch_size"]) }
		default:
			check = isReady
		}
		cases = append(cases,
			c(p.op, p.op, get(path("tagifai")), 200, check),
			// Any name is a model the server might serve: one it does not
			// is a 404, whatever its spelling; only an absurd length is a 400.
			c(p.op+" other spelling", p.op, get(path("Not_A_Name")), 404, expectOIPError("'Not_A_Name' is unknown")),
			c(p.op+" name too long", p.op, get(path(strings.Repeat("m", 257))), 400, expectOIPError("path.model-name")),
			c(p.op+" unknown model", p.op, get(path("nope")), 404, expectOIPError("'nope'")),
			c(p.op+" wrong method", p.op, request{method: "PATCH", path: path("tagifai")}, 405, expectOIPError("not allowed")),
			failing(p.op, p.op, get(path("tagifai"))),
			notReady(p.op, p.op, get(path("tagifai"))),
		)
	}
	cases = append(cases,
		c("version metadata unknown version", "oipModelVersionMetadata", get("/v2/models/tagifai/versions/9"), 404, expectOIPError("version '9'")),
		c("version ready unknown version", "oipModelVersionReady", get("/v2/models/tagifai/versions/latest/ready"), 404, expectOIPError("version 'latest'")),
		c("version ready version of 40 characters", "oipModelVersionReady", get("/v2/models/tagifai/versions/"+strings.Repeat("9", 40)+"/ready"), 404, expectOIPError("version '99")),
		c("version ready version too long", "oipModelVersionReady", get("/v2/models/tagifai/versions/"+strings.Repeat("9", 257)+"/ready"), 400, expectOIPError("path.version")),
	)
	for _, p := range []struct{ op, path string }{{"oipInfer", infer}, {"oipVersionInfer", vinfer}} {
		cases = append(cases,
			c(p.op+" JSON", p.op, post(p.path, jsonInfer, jsonCT), 200, func(t *testing.T, body map[string]any) {
				assert.Equal(t, "r1", body["id"])
				assert.Equal(t, "1", body["model_version"])
				outputs := body["outputs"].([]any)
				require.Len(t, outputs, 3)
				assert.Equal(t, []any{"computer-vision", "natural-language-processing"}, outputs[0].(map[string]any)["data"])
			}),
			c(p.op+" binary", p.op, binInfer(p.path), 200, nil),
			c(p.op+" JSON without a content type", p.op, post(p.path, jsonInfer, ""), 200, nil),
			c(p.op+" malformed JSON", p.op, post(p.path, `{"inputs":[`, jsonCT), 400, expectOIPError("not valid JSON")),
			c(p.op+" breaks the schema", p.op, post(p.path, `{"inputs":[{"name":"text"}]}`, jsonCT), 400, expectOIPError("body.inputs.0")),
			withRegistry(c(p.op+" without a key", p.op, post(p.path, jsonInfer, jsonCT), 401, expectOIPError("API key")), "anonymous", true),
			withRegistry(c(p.op+" as a viewer", p.op, post(p.path, jsonInfer, jsonCT), 403, nil), "viewer", true), // without --require-auth, anyone may
			c(p.op+" unknown model", p.op, post(strings.Replace(p.path, "tagifai", "nope", 1), jsonInfer, jsonCT), 404, expectOIPError("'nope'")),
			c(p.op+" wrong method", p.op, get(p.path), 405, expectOIPError("not allowed")),
			c(p.op+" body too large", p.op, post(p.path, huge, jsonCT), 413, expectOIPError("larger than")),
			c(p.op+" as form data, as curl -d sends it", p.op, post(p.path, jsonInfer, "application/x-www-form-urlencoded"), 200, nil),
			c(p.op+" compressed with brotli", p.op, request{method: "POST", path: p.path, body: jsonInfer, header: http.Header{"Content-Encoding": {"br"}}}, 415, expectOIPError("not supported")),
			failing(p.op, p.op, post(p.path, jsonInfer, jsonCT)),
			notReady(p.op, p.op, post(p.path, jsonInfer, jsonCT)),
		)
	}
	cases = append(cases,
		withRegistry(c("versioned infer, unknown version", "oipVersionInfer", post("/v2/models/tagifai/versions/9/infer", jsonInfer, jsonCT), 404, expectOIPError("9")), "predictor", false),
	)
	return cases
}

// checkOIPBody decodes a /v2 response: the protocol's objects, no envelope.
func checkOIPBody(t *testing.T, status int, header http.Header, body []byte) map[string]any {
	t.Helper()
	assert.NotEmpty(t, header.Get("X-Request-ID"))
	if status >= 400 {
		assert.NotContains(t, string(body), "secret detail", "an internal error leaked to the client")
		assert.NotContains(t, string(body), "goroutine", "a stack trace leaked to the client")
	}
	if status == http.StatusMethodNotAllowed {
		assert.NotEmpty(t, header.Get("Allow"))
	}
	if status == http.StatusUnauthorized {
		assert.Equal(t, "Bearer", header.Get("WWW-Authenticate"))
	}
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got), "body is not JSON: %s", body)
	if status >= 400 {
		assert.Equal(t, []string{"error"}, keys(got), "a /v2 error is {\"error\": ...}")
	}
	return got
}
