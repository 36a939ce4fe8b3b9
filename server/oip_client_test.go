package server

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
)

// The wire behaviour of the protocol's Python clients, transcribed:
// tritonclient.http (_client.py, _utils.py, _infer_input.py,
// _infer_result.py) and kserve's InferenceRESTClient (inference_client.py,
// protocol/infer_type.py). Each test sends what the client sends, headers
// included, through a real listener, and reads the answer as the client
// reads it.

// wireInput is an input tensor as the clients build it.
type wireInput struct {
	texts  []string
	shape  []int64
	binary bool // set_data_from_numpy(binary_data=True), the default
}

// wireOutput is a requested output (InferRequestedOutput).
type wireOutput struct {
	name       string
	binary     bool
	classCount int
}

// tritonRequest builds the body and headers of tritonclient's infer():
// _get_inference_request, then the compression and header steps of
// InferenceServerClient.infer. tritonclient sends no Content-Type.
func tritonRequest(t *testing.T, in wireInput, outputs []wireOutput, requestID string, timeoutUS int64, compression string) ([]byte, http.Header) {
	t.Helper()
	tensor := map[string]any{"name": "text", "shape": in.shape, "datatype": "BYTES"}
	var raw []byte
	if in.binary {
		raw = bytesTensor(in.texts...)
		tensor["parameters"] = map[string]any{"binary_data_size": len(raw)}
	} else {
		tensor["data"] = in.texts
	}
	req := map[string]any{"inputs": []any{tensor}}
	params := map[string]any{}
	if requestID != "" {
		req["id"] = requestID
	}
	if timeoutUS > 0 {
		params["timeout"] = timeoutUS
	}
	if len(outputs) > 0 {
		var outs []any
		for _, o := range outputs {
			p := map[string]any{"binary_data": o.binary}
			if o.classCount != 0 {
				p["classification"] = o.classCount
			}
			outs = append(outs, map[string]any{"name": o.name, "parameters": p})
		}
		req["outputs"] = outs
	} else {
		params["binary_data_output"] = true
	}
	if len(params) > 0 {
		req["parameters"] = params
	}
	header, err := json.Marshal(req)
	require.NoError(t, err)
	body := append(header, raw...)
	h := http.Header{}
	if raw != nil {
		h.Set(oipHeaderLength, strconv.Itoa(len(header)))
	}
	switch compression {
	case "gzip":
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		require.NoError(t, zw.Close())
		body = b.Bytes()
		h.Set("Content-Encoding", "gzip")
	case "deflate": // zlib.compress, as tritonclient does
		var b bytes.Buffer
		zw := zlib.NewWriter(&b)
		_, _ = zw.Write(body)
		require.NoError(t, zw.Close())
		body = b.Bytes()
		h.Set("Content-Encoding", "deflate")
	}
	return body, h
}

// wireResult is an inference response as the clients decode it.
type wireResult struct {
	ID           string
	ModelName    string `json:"model_name"`
	ModelVersion string `json:"model_version"`
	Outputs      []struct {
		Name       string
		Datatype   string
		Shape      []int64
		Parameters map[string]any
		Data       []any
	}
	buffer []byte
}

// parseWireResult is InferResult.__init__: the JSON header is
// Inference-Header-Content-Length bytes long when the header is present
// (kserve: else the whole body), the binary outputs follow it in order.
func parseWireResult(t *testing.T, resp *http.Response) *wireResult {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	n := len(body)
	if h := resp.Header.Get(oipHeaderLength); h != "" {
		n, err = strconv.Atoi(h)
		require.NoError(t, err)
	}
	var r wireResult
	require.NoError(t, json.Unmarshal(body[:n], &r))
	r.buffer = body[n:]
	return &r
}

// strings is as_numpy for a BYTES output: deserialize_bytes_tensor of the
// output's slice of the buffer, or its JSON data.
func (r *wireResult) strings(t *testing.T, name string) ([]string, []int64) {
	t.Helper()
	data, shape, isBinary := r.output(t, name)
	if !isBinary {
		out := make([]string, len(data.([]any)))
		for i, v := range data.([]any) {
			out[i] = v.(string)
		}
		return out, shape
	}
	b := data.([]byte)
	var out []string
	for len(b) > 0 {
		n := binary.LittleEndian.Uint32(b)
		out = append(out, string(b[4:4+n]))
		b = b[4+n:]
	}
	return out, shape
}

// floats is as_numpy for an FP32 output: np.frombuffer of its slice, or
// its JSON data.
func (r *wireResult) floats(t *testing.T, name string) ([]float32, []int64) {
	t.Helper()
	data, shape, isBinary := r.output(t, name)
	var out []float32
	if !isBinary {
		for _, v := range data.([]any) {
			out = append(out, float32(v.(float64)))
		}
		return out, shape
	}
	b := data.([]byte)
	for i := 0; i+4 <= len(b); i += 4 {
		out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
	}
	return out, shape
}

func (r *wireResult) output(t *testing.T, name string) (any, []int64, bool) {
	t.Helper()
	offset := 0
	for _, o := range r.Outputs {
		size, isBinary := o.Parameters["binary_data_size"].(float64)
		if o.Name == name {
			if isBinary {
				require.LessOrEqual(t, offset+int(size), len(r.buffer))
				return r.buffer[offset : offset+int(size)], o.Shape, true
			}
			return o.Data, o.Shape, false
		}
		offset += int(size)
	}
	t.Fatalf("no output %q", name)
	return nil, nil, false
}

func postWire(t *testing.T, url string, body []byte, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func getWire(t *testing.T, url string) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body, resp.Header
}

func TestTritonClientWire(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(newTestServer(t, true))
	t.Cleanup(ts.Close)
	texts := []string{"Object detection with CNNs", "BERT transformers for NER", "Deploy models with Kubernetes"}
	wantTags := []string{"computer-vision", "natural-language-processing", "mlops"}

	t.Run("health, readiness and metadata", func(t *testing.T) {
		for _, path := range []string{"/v2/health/live", "/v2/health/ready", "/v2/models/tagifai/ready", "/v2/models/tagifai/versions/1/ready"} {
			status, _, _ := getWire(t, ts.URL+path)
			assert.Equal(t, http.StatusOK, status, path) // is_server_live & co. test status_code == 200
		}
		_, server, _ := getWire(t, ts.URL+"/v2")
		assert.Contains(t, server["extensions"], "binary_tensor_data")
		_, md, _ := getWire(t, ts.URL+"/v2/models/tagifai")
		assert.Equal(t, "text", md["inputs"].([]any)[0].(map[string]any)["name"])
		_, cfg, _ := getWire(t, ts.URL+"/v2/models/tagifai/config")
		assert.Equal(t, float64(oipMaxTexts), cfg["max_batch_size"])
	})

	cases := []struct {
		name        string
		in          wireInput
		outputs     []wireOutput
		compression string
		path        string
	}{
		{name: "binary input, all outputs binary", in: wireInput{texts: texts, shape: []int64{3}, binary: true}},
		{name: "binary input of shape [n, 1]", in: wireInput{texts: texts, shape: []int64{3, 1}, binary: true}},
		{name: "JSON input, JSON outputs", in: wireInput{texts: texts, shape: []int64{3}},
			outputs: []wireOutput{{name: "tag"}, {name: "probabilities"}, {name: "labels"}}},
		{name: "JSON input, one binary output among JSON ones", in: wireInput{texts: texts, shape: []int64{3}},
			outputs: []wireOutput{{name: "tag"}, {name: "probabilities", binary: true}, {name: "labels"}}},
		{name: "gzip request", in: wireInput{texts: texts, shape: []int64{3}, binary: true}, compression: "gzip"},
		{name: "deflate request", in: wireInput{texts: texts, shape: []int64{3}, binary: true}, compression: "deflate"},
		{name: "named version", in: wireInput{texts: texts, shape: []int64{3}, binary: true}, path: "/v2/models/tagifai/versions/1/infer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, h := tritonRequest(t, tc.in, tc.outputs, "req-7", 0, tc.compression)
			path := tc.path
			if path == "" {
				path = "/v2/models/tagifai/infer"
			}
			r := parseWireResult(t, postWire(t, ts.URL+path, body, h))
			assert.Equal(t, "req-7", r.ID)
			assert.Equal(t, "tagifai", r.ModelName)
			assert.Equal(t, "1", r.ModelVersion)
			tags, shape := r.strings(t, "tag")
			assert.Equal(t, wantTags, tags)
			assert.Equal(t, []int64{3}, shape)
			probs, shape := r.floats(t, "probabilities")
			assert.Equal(t, []int64{3, 4}, shape)
			require.Len(t, probs, 12)
			labels, _ := r.strings(t, "labels")
			assert.Equal(t, fakeClasses, labels)
			for i, tag := range wantTags {
				row := probs[i*4 : i*4+4]
				best := 0
				for j := range row {
					if row[j] > row[best] {
						best = j
					}
				}
				assert.Equal(t, tag, labels[best], "row %d of probabilities follows labels", i)
			}
		})
	}

	t.Run("classification extension", func(t *testing.T) {
		for _, binaryOut := range []bool{false, true} {
			body, h := tritonRequest(t, wireInput{texts: texts[:2], shape: []int64{2}, binary: true},
				[]wireOutput{{name: "probabilities", binary: binaryOut, classCount: 2}}, "", 0, "")
			r := parseWireResult(t, postWire(t, ts.URL+"/v2/models/tagifai/infer", body, h))
			got, shape := r.strings(t, "probabilities")
			assert.Equal(t, []int64{2, 2}, shape)
			assert.Equal(t, []string{"0.700000:0:computer-vision", "0.100000:1:mlops", "0.700000:2:natural-language-processing", "0.100000:0:computer-vision"}, got)
		}
	})

	t.Run("timeout parameter", func(t *testing.T) {
		body, h := tritonRequest(t, wireInput{texts: texts, shape: []int64{3}, binary: true}, nil, "", 60_000_000, "")
		r := parseWireResult(t, postWire(t, ts.URL+"/v2/models/tagifai/infer", body, h))
		tags, _ := r.strings(t, "tag")
		assert.Equal(t, wantTags, tags)
	})

	t.Run("errors: json.loads(body)[\"error\"]", func(t *testing.T) {
		body, h := tritonRequest(t, wireInput{texts: texts, shape: []int64{3}, binary: true}, nil, "", 0, "")
		for path, status := range map[string]int{
			"/v2/models/nope/infer":               http.StatusNotFound,
			"/v2/models/tagifai/versions/9/infer": http.StatusNotFound,
		} {
			resp := postWire(t, ts.URL+path, body, h)
			assert.Equal(t, status, resp.StatusCode, path)
			var e map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
			assert.IsType(t, "", e["error"], path)
		}
	})
}

// kserveRequest builds the body and headers of InferenceRESTClient.infer
// for the v2 protocol: InferRequest.to_rest always sends an id and the
// model's name; binary inputs make it application/octet-stream with
// Inference-Header-Content-Length, otherwise application/json.
func kserveRequest(t *testing.T, texts []string, shape []int64, binaryIn bool, outputs []map[string]any) ([]byte, http.Header) {
	t.Helper()
	in := map[string]any{"name": "text", "shape": shape, "datatype": "BYTES"}
	var raw []byte
	if binaryIn {
		raw = bytesTensor(texts...)
		in["parameters"] = map[string]any{"binary_data_size": len(raw)}
	} else {
		in["data"] = texts
	}
	req := map[string]any{"id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "model_name": "tagifai", "inputs": []any{in}}
	if outputs != nil {
		req["outputs"] = outputs
	}
	body, err := json.Marshal(req)
	require.NoError(t, err)
	h := http.Header{}
	if raw != nil {
		h.Set(oipHeaderLength, strconv.Itoa(len(body)))
		h.Set("Content-Type", "application/octet-stream")
		body = append(body, raw...)
	} else {
		h.Set("Content-Type", "application/json")
	}
	return body, h
}

func TestKServeClientWire(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(newTestServer(t, true))
	t.Cleanup(ts.Close)
	texts := []string{"Object detection with CNNs", "BERT transformers for NER"}

	t.Run("is_server_live, is_server_ready, is_model_ready read .json()", func(t *testing.T) {
		_, live, _ := getWire(t, ts.URL+"/v2/health/live")
		assert.Equal(t, true, live["live"])
		_, ready, _ := getWire(t, ts.URL+"/v2/health/ready")
		assert.Equal(t, true, ready["ready"])
		_, model, _ := getWire(t, ts.URL+"/v2/models/tagifai/ready")
		assert.Equal(t, true, model["ready"])
	})

	for _, tc := range []struct {
		name     string
		binaryIn bool
		outputs  []map[string]any
	}{
		{name: "JSON"},
		{name: "binary input", binaryIn: true},
		{name: "binary input, binary output", binaryIn: true, outputs: []map[string]any{{"name": "tag", "parameters": map[string]any{"binary_data": true}}}},
		{name: "MLServer's output names", outputs: []map[string]any{{"name": "predict"}, {"name": "predict_proba"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, h := kserveRequest(t, texts, []int64{2}, tc.binaryIn, tc.outputs)
			r := parseWireResult(t, postWire(t, ts.URL+"/v2/models/tagifai/infer", body, h))
			assert.Equal(t, "1b4e28ba-2fa1-11d2-883f-0016d3cca427", r.ID)
			name := "tag"
			if tc.outputs != nil {
				name = tc.outputs[0]["name"].(string)
			}
			tags, _ := r.strings(t, name)
			assert.Equal(t, []string{"computer-vision", "natural-language-processing"}, tags)
			if name == "predict" {
				probs, shape := r.floats(t, "predict_proba")
				assert.Equal(t, []int64{2, 4}, shape)
				assert.Len(t, probs, 8)
			}
		})
	}

	t.Run("shape [] with one element, as KServe's fixtures send it", func(t *testing.T) {
		body, h := kserveRequest(t, texts[:1], []int64{}, false, nil)
		r := parseWireResult(t, postWire(t, ts.URL+"/v2/models/tagifai/infer", body, h))
		tags, _ := r.strings(t, "tag")
		assert.Equal(t, []string{"computer-vision"}, tags)
	})

	t.Run("errors are application/json with error", func(t *testing.T) {
		body, h := kserveRequest(t, texts, []int64{3}, false, nil)
		resp := postWire(t, ts.URL+"/v2/models/tagifai/infer", body, h)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		// _construct_http_status_error compares the content type exactly.
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var e map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
		assert.Contains(t, e["error"], "shape holds 3")
	})

	t.Run("is_model_ready: 503 means not ready", func(t *testing.T) {
		cold := httptest.NewServer(newTestServer(t, false))
		t.Cleanup(cold.Close)
		for _, path := range []string{"/v2/models/tagifai/ready", "/v2/health/ready"} {
			status, body, _ := getWire(t, cold.URL+path)
			assert.Equal(t, http.StatusServiceUnavailable, status, path)
			assert.Contains(t, body["error"], "no model is loaded")
		}
		status, body, _ := getWire(t, cold.URL+"/v2/health/live")
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, true, body["live"])
	})
}

// slowPredictor takes a while for each batch, so that a request's
// timeout expires while it runs.
type slowPredictor struct{ fakePredictor }

func (p slowPredictor) PredictBatch(texts []string) []model.Prediction {
	time.Sleep(5 * time.Millisecond)
	return p.fakePredictor.PredictBatch(texts)
}

// slowInferServer returns a server whose model takes 5 ms a call, and
// texts enough for two of its calls, as a list and as JSON.
func slowInferServer(t *testing.T) (s *Server, many []string, texts []byte) {
	t.Helper()
	s = newTestServer(t, false)
	s.serving.Set(fakeVersion(t, fakeRunID, slowPredictor{}))
	many = make([]string, 2*oipPredictChunk)
	for i := range many {
		many[i] = "a cnn"
	}
	texts, _ = json.Marshal(many)
	return s, many, texts
}

func TestOIPTimeoutParameter(t *testing.T) {
	t.Parallel()
	s, many, texts := slowInferServer(t)
	body := func(timeout string) string {
		return `{"inputs":[{"name":"text","datatype":"BYTES","shape":[` + strconv.Itoa(len(many)) + `],"data":` + string(texts) + `}],"parameters":{"timeout":` + timeout + `}}`
	}
	// 1 µs expires during the first chunk; the second never runs.
	rec := do(s, request{method: "POST", path: "/v2/models/tagifai/infer", body: body("1"), contentType: jsonCT})
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{"error":"request timeout of 1 microseconds expired"}`, rec.Body.String())
	// A timeout of a minute, or 0 (none), lets it finish.
	for _, timeout := range []string{"60000000", "0"} {
		rec = do(s, request{method: "POST", path: "/v2/models/tagifai/infer", body: body(timeout), contentType: jsonCT})
		assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	}
}

// TestJSONInt: integers however written, exactly, saturating beyond
// int64; numbers too long or with exponents too large to read exactly
// cheaply (a body may hold a number of millions of digits) are decided
// without big arithmetic.
func TestJSONInt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   any
		want int64
		ok   bool
	}{
		{json.Number("7"), 7, true},
		{json.Number("7.0"), 7, true},
		{json.Number("70e-1"), 7, true},
		{json.Number("7.5"), 0, false},
		{json.Number("9223372036854775808"), math.MaxInt64, true},
		{json.Number("-9223372036854775809"), math.MinInt64, true},
		{json.Number("1e99999"), math.MaxInt64, true},
		{json.Number("-2.5e99999"), math.MinInt64, true},
		{json.Number("0e99999"), 0, true},
		{json.Number("0.0e-99999"), 0, true},
		{json.Number("5e-99999"), 0, false},
		{json.Number("1" + strings.Repeat("0", 4<<20) + ".5"), 0, false}, // not parsed digit by digit
		{float64(7), 7, true},
		{1e300, math.MaxInt64, true},
		{7.5, 0, false},
		{math.Inf(1), 0, false},
		{"7", 0, false},
	} {
		got, ok := jsonInt(tc.in)
		name := fmt.Sprint(tc.in)
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		assert.Equal(t, tc.ok, ok, name)
		assert.Equal(t, tc.want, got, name)
	}
}

// TestOIPTimeoutValues: any non-negative integer is a valid `timeout`,
// however written and however large, in a JSON body or a binary request's
// header; a huge one is clamped, never wrapped to a small or negative
// duration (18446744073709552 µs wrapped to 384 ns), nor refused.
func TestOIPTimeoutValues(t *testing.T) {
	t.Parallel()
	s, many, texts := slowInferServer(t)
	input := `{"name":"text","datatype":"BYTES","shape":[` + strconv.Itoa(len(many)) + `]`
	jsonReq := func(timeout string) request {
		return request{method: "POST", path: "/v2/models/tagifai/infer", contentType: jsonCT,
			body: `{"inputs":[` + input + `,"data":` + string(texts) + `}],"parameters":{"timeout":` + timeout + `}}`}
	}
	binaryReq := func(timeout string) request {
		tensor := bytesTensor(many...)
		header := `{"inputs":[` + input + `,"parameters":{"binary_data_size":` + strconv.Itoa(len(tensor)) + `}}],"parameters":{"timeout":` + timeout + `}}`
		return oipBinaryRequest("/v2/models/tagifai/infer", header, tensor)
	}
	for _, tc := range []struct {
		timeout string
		status  int
		msg     string
	}{
		{"60000000", 200, ""},
		{"60000000.0", 200, ""},
		{"6e7", 200, ""},
		{"18446744073709552", 200, ""},   // ×1000 wraps to 384 ns
		{"9223372036854775807", 200, ""}, // 2**63-1
		{"9223372036854775808", 200, ""},
		{"1", 503, "request timeout of 1 microseconds expired"},
		{"1.5", 400, "parameter 'timeout' must be an integer"},
		{"1e300", 200, ""},                        // huge: clamped
		{"1" + strings.Repeat("0", 100), 200, ""}, // a 101-digit integer: clamped
		{"-1", 400, "must not be negative"},
		{"-18446744073709552000", 400, "must not be negative"}, // wrapped to positive before
		{`"5"`, 400, "must be an integer"},
	} {
		for name, r := range map[string]request{"JSON": jsonReq(tc.timeout), "binary": binaryReq(tc.timeout)} {
			rec := do(s, r)
			assert.Equal(t, tc.status, rec.Code, "%s timeout %s: %s", name, tc.timeout, rec.Body.String())
			if tc.msg != "" {
				assert.Contains(t, rec.Body.String(), tc.msg, "%s timeout %s", name, tc.timeout)
			}
		}
	}
	assert.Equal(t, writeTimeout, timeoutOf(math.MaxInt64))
	assert.Equal(t, 5*time.Millisecond, timeoutOf(5000))
}
