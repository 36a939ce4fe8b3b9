package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nestedData returns value inside depth JSON arrays.
func nestedData(depth int, value string) string {
	return strings.Repeat("[", depth) + value + strings.Repeat("]", depth)
}

func oipTextInput(shape, data string) string {
	return `{"inputs":[{"name":"text","datatype":"BYTES","shape":` + shape + `,"data":` + data + `}]}`
}

// TestOIPBadInput transcribes the server-agnostic robustness cases of
// Triton's qa/L0_http/http_test.py (and the rest of what a hostile client
// can send to /v2/.../infer): each is a 400 (or the documented 413/415)
// with {"error": ...}, valid against the spec, and the server stays live.
func TestOIPBadInput(t *testing.T) {
	t.Parallel()
	const infer = "/v2/models/tagifai/infer"
	post := func(body string) request {
		return request{method: "POST", path: infer, body: body, contentType: jsonCT}
	}
	withHeaderLength := func(r request, n string) request {
		r.header = http.Header{oipHeaderLength: {n}}
		return r
	}
	binHeader := func(size string) string {
		return `{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":` + size + `}}]}`
	}
	// 64 MiB of zeros in about 64 KiB: 64 gzip members of 1 MiB each, which
	// a gzip reader reads as one stream (compressing 64 MiB at once costs
	// seconds under the race detector).
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 1<<20))
	require.NoError(t, zw.Close())
	bomb := bytes.Repeat(member.Bytes(), 64)
	gzipped := request{method: "POST", path: infer, body: string(bomb), contentType: jsonCT, header: http.Header{"Content-Encoding": {"gzip"}}}

	cases := []struct {
		name   string
		req    request
		status int
		msg    string
	}{
		// test_json_recursion_depth_limit
		{"JSON nested deeper than 100", post(oipTextInput("[1, 1]", nestedData(120, `"hello"`))), 400, "JSON nesting depth exceeds maximum allowed limit (100)"},
		{"JSON header nested deeper than 100", oipBinaryRequest(infer, `{"inputs":`+nestedData(150, "1")+`}`, bytesTensor("a")), 400, "nesting depth"},
		{"data nested deeper than its shape", post(oipTextInput("[1, 1]", nestedData(50, `"hello"`))), 400, "nested deeper than its shape"},
		{"JSON nested beyond the decoder", post(`{"inputs":` + nestedData(20000, "1") + `}`), 400, "nesting depth"},
		// test_duplicate_output_names
		{"duplicate output names", post(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["x"]}],"outputs":[{"name":"tag"},{"name":"tag"}]}`), 400, "output 'tag' already exists in request"},
		// test_negative_dimensions
		{"negative dimension", post(oipTextInput("[2, -5]", `["a"]`)), 400, "must not be negative"},
		{"negative batch", post(oipTextInput("[-1]", `["a"]`)), 400, "must not be negative"},
		// test_buffer_size_overflow
		{"element count beyond any limit", post(oipTextInput("[16, 1152921504606846978]", `["a"]`)), 400, "the model takes [n], [n, 1] or []"},
		{"absurd batch", post(oipTextInput("[1152921504606846978]", `["a"]`)), 400, "more than 1000 texts"},
		{"dimension beyond int64", post(oipTextInput("[18446744073709551648]", `["a"]`)), 400, "shape"},
		{"three dimensions", post(oipTextInput("[1, 1, 1]", `[[["a"]]]`)), 400, "the model takes [n], [n, 1] or []"},
		// a shape that does not match the data
		{"fewer elements than the shape", post(oipTextInput("[3]", `["a cnn", "b"]`)), 400, "has 2 elements in 'data' but its shape holds 3"},
		{"more elements than the shape", post(oipTextInput("[1]", `["a", "b"]`)), 400, "more elements"},
		{"a number among the texts", post(oipTextInput("[2]", `["a", 7]`)), 400, "BYTES elements are strings"},
		{"no data", post(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[1]}]}`), 400, "no 'data'"},
		// test_inference_header_content_length_out_of_range
		{"Inference-Header-Content-Length beyond the body", withHeaderLength(post(`{"inputs":[]}`), "99999999999"), 400, "beyond the body"},
		{"Inference-Header-Content-Length beyond int64", withHeaderLength(post(`{"inputs":[]}`), "99999999999999999999999"), 400, "not a length"},
		{"Inference-Header-Content-Length negative", withHeaderLength(post(`{"inputs":[]}`), "-1"), 400, "not a length"},
		{"Inference-Header-Content-Length not a number", withHeaderLength(post(`{"inputs":[]}`), "twelve"), 400, "not a length"},
		// binary lengths that overflow
		{"BYTES element longer than the data", oipBinaryRequest(infer, binHeader("8"), []byte{0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd'}), 400, "4294967295 bytes long but only 4 bytes remain"},
		{"BYTES length cut short", oipBinaryRequest(infer, binHeader("2"), []byte{1, 0}), 400, "ends inside the length"},
		{"binary_data_size beyond the body", oipBinaryRequest(infer, binHeader("4611686018427387904"), bytesTensor("a")), 400, "binary_data_size 4611686018427387904 but 5 bytes follow"},
		{"binary_data_size negative", oipBinaryRequest(infer, binHeader("-5"), bytesTensor("a")), 400, "binary_data_size -5"},
		{"binary_data_size not an integer", oipBinaryRequest(infer, binHeader(`"5"`), bytesTensor("a")), 400, "must be an integer"},
		{"binary data and JSON data", oipBinaryRequest(infer, `{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"],"parameters":{"binary_data_size":5}}]}`, bytesTensor("a")), 400, "both 'data' and"},
		{"bytes after the header that no input claims", oipBinaryRequest(infer, oipTextInput("[1]", `["a"]`), []byte("xyz")), 400, "no input has the parameter 'binary_data_size'"},
		{"more BYTES elements than the shape", oipBinaryRequest(infer, binHeader("10"), bytesTensor("a", "b")), 400, "more elements in its binary data"},
		{"binary text not UTF-8", oipBinaryRequest(infer, binHeader("8"), bytesTensor("caf\xe9")), 400, "not valid UTF-8"},
		{"binary body without the header is read as JSON", request{method: "POST", path: infer, body: "abc", contentType: "application/octet-stream"}, 400, "not valid JSON"},
		// wrong datatype, unknown names
		{"wrong datatype", post(`{"inputs":[{"name":"text","datatype":"FP32","shape":[1],"data":[1.0]}]}`), 400, "datatype 'FP32'"},
		{"unknown input", post(`{"inputs":[{"name":"INPUT0","datatype":"BYTES","shape":[1],"data":["a"]}]}`), 400, "unknown input 'INPUT0'"},
		{"two inputs", post(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]},{"name":"text","datatype":"BYTES","shape":[1],"data":["b"]}]}`), 400, "2 inputs"},
		{"unknown output", post(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]}],"outputs":[{"name":"OUTPUT0"}]}`), 400, "unknown output 'OUTPUT0'"},
		{"classification of labels", post(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]}],"outputs":[{"name":"labels","parameters":{"classification":2}}]}`), 400, "classification applies"},
		{"classification zero", post(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]}],"outputs":[{"name":"tag","parameters":{"classification":0}}]}`), 400, "at least 1"},
		{"classification not a number", post(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]}],"outputs":[{"name":"tag","parameters":{"classification":"two"}}]}`), 400, "must be an integer"},
		{"binary_data not a boolean", post(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]}],"outputs":[{"name":"tag","parameters":{"binary_data":"yes"}}]}`), 400, "must be a boolean"},
		{"timeout negative", post(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]}],"parameters":{"timeout":-1}}`), 400, "must not be negative"},
		{"timeout fractional", post(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]}],"parameters":{"timeout":1.5}}`), 400, "must be an integer"},
		// an empty batch
		{"empty batch", post(oipTextInput("[0]", `[]`)), 400, "empty batch"},
		{"no inputs", post(`{"inputs":[]}`), 400, "no inputs"},
		{"blank text", post(oipTextInput("[1]", `["   "]`)), 400, "empty or white space"},
		{"text too long", post(oipTextInput("[1]", `["`+strings.Repeat("a", 10001)+`"]`)), 400, "longer than 10000"},
		{"control character", post(oipTextInput("[1]", `["a\u0000b"]`)), 400, "control character"},
		{"inputs not a list", post(`{"inputs":{"name":"text"}}`), 400, "body.inputs"},
		{"body not an object", post(`[1,2]`), 400, "body"},
		{"invalid UTF-8 in JSON", post("{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"caf\xe9\"]}]}"), 400, "UTF-8"},
		// compressed bodies
		{"gzip bomb", gzipped, 413, "larger than"},
		{"corrupt gzip", request{method: "POST", path: infer, body: "not gzip", contentType: jsonCT, header: http.Header{"Content-Encoding": {"gzip"}}}, 400, "gzip"},
		{"unknown content encoding", request{method: "POST", path: infer, body: "x", contentType: jsonCT, header: http.Header{"Content-Encoding": {"br"}}}, 415, "not supported"},
	}
	s := newTestServer(t, true)
	routes := specRoutes(loadSpec(t))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(s, tc.req)
			require.Equal(t, tc.status, rec.Code, "body: %s", rec.Body.String())
			body := validateResponse(t, routes["oipInfer"], tc.req, rec.Code, rec.Header(), rec.Body.Bytes())
			assert.Contains(t, body["error"], tc.msg)
			live := do(s, request{method: "GET", path: "/v2/health/live"})
			assert.Equal(t, http.StatusOK, live.Code, "the server stays live")
		})
	}
}

// TestOIPBinaryHeaderSchema: the JSON header of a binary request is held to
// the schema of a JSON body, and refused in the same words; no answer
// names Go's types or calls valid JSON invalid.
func TestOIPBinaryHeaderSchema(t *testing.T) {
	t.Parallel()
	const infer = "/v2/models/tagifai/infer"
	s := newTestServer(t, true)
	routes := specRoutes(loadSpec(t))
	tensor := bytesTensor("Object detection with YOLO")
	input := func(fields string) string {
		return `{"inputs":[{"name":"text","datatype":"BYTES"` + fields + `,"parameters":{"binary_data_size":30}}]}`
	}
	for _, tc := range []struct{ name, header, msg string }{
		{"no shape", input(``), "body.inputs.0.shape: field is required"},
		{"null shape", input(`,"shape":null`), "body.inputs.0.shape: must not be null"},
		{"null parameters", `{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":30}}],"parameters":null}`, "body.parameters: must not be null"},
		{"id a number", `{"id":5,"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":30}}]}`, "body.id: must be of type string"},
		{"fractional shape", input(`,"shape":[2.5]`), "body.inputs.0.shape.0: must be of type integer"},
		{"header not an object", `[1]`, "body: must be of type object"},
		{"shape 1.0", input(`,"shape":[1.0]`), "body.inputs.shape: must hold integers written without a fraction or exponent (1, not 1.0 or 1e0)"},
		{"shape 1e0", input(`,"shape":[1e0]`), "body.inputs.shape: must hold integers written without a fraction or exponent (1, not 1.0 or 1e0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for name, req := range map[string]request{
				"binary": oipBinaryRequest(infer, tc.header, tensor),
				"JSON":   {method: "POST", path: infer, body: tc.header, contentType: jsonCT},
			} {
				rec := do(s, req)
				require.Equal(t, http.StatusBadRequest, rec.Code, "%s: %s", name, rec.Body.String())
				body := validateResponse(t, routes["oipInfer"], req, rec.Code, rec.Header(), rec.Body.Bytes())
				assert.Equal(t, tc.msg, body["error"], name)
				for _, leak := range []string{"Go ", "gen.", "struct", "not valid JSON"} {
					assert.NotContains(t, body["error"], leak, name)
				}
			}
		})
	}
}

// TestOIPControlCharacter: a control character in a text is named in the
// protocol's terms, the input and its element, not POST /predict's field.
func TestOIPControlCharacter(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, true)
	for _, req := range []request{
		{method: "POST", path: "/v2/models/tagifai/infer", body: oipTextInput("[2]", `["fine", "a\u0001b"]`), contentType: jsonCT},
		oipBinaryRequest("/v2/models/tagifai/infer", `{"inputs":[{"name":"text","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":15}}]}`, bytesTensor("fine", "a\x01b")),
	} {
		rec := do(s, req)
		require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
		assert.JSONEq(t, `{"error":"input 'text': element 1 must not contain control character U+0001 (at byte 1)"}`, rec.Body.String())
	}
}

// TestOIPWithinLimits checks the valid neighbours of the bad inputs: the
// shapes the protocol's clients send, and nesting within the limit.
func TestOIPWithinLimits(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, true)
	for _, tc := range []struct{ name, shape, data string }{
		{"shape [n]", "[2]", `["a cnn", "transformers"]`},
		{"shape [n, 1]", "[2, 1]", `[["a cnn"], ["transformers"]]`},
		{"shape [n, 1] flat", "[2, 1]", `["a cnn", "transformers"]`},
		{"shape [] with one element", "[]", `["a cnn"]`},
		{"shape [] with a scalar", "[]", `"a cnn"`},
		{"1000 texts", "[1000]", "[" + strings.TrimSuffix(strings.Repeat(`"a cnn",`, 1000), ",") + "]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(s, request{method: "POST", path: "/v2/models/tagifai/infer", body: oipTextInput(tc.shape, tc.data), contentType: jsonCT})
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			var resp struct {
				Outputs []struct {
					Name  string
					Shape []int
					Data  []any
				}
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
			assert.Equal(t, "tag", resp.Outputs[0].Name)
			assert.Equal(t, "computer-vision", resp.Outputs[0].Data[0], fmt.Sprint(resp.Outputs[0]))
		})
	}
}
