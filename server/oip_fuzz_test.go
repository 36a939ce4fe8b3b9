package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzOIPInfer sends arbitrary bodies, framed as JSON or as binary tensor
// data with an arbitrary Inference-Header-Content-Length, to /v2 inference:
// the answer is never a 5xx, always valid against the spec, and an error
// is {"error": "..."}; a 200 has one tag per text.
func FuzzOIPInfer(f *testing.F) {
	f.Add([]byte(oipTextInput("[2]", `["a cnn", "transformers"]`)), int64(-1))
	f.Add([]byte(oipTextInput("[1, 1]", `[["a cnn"]]`)), int64(-1))
	f.Add([]byte(oipTextInput("[]", `"a cnn"`)), int64(-1))
	f.Add([]byte(`{"inputs":[{"name":"text","datatype":"BYTES","shape":[1]}],"outputs":[{"name":"predict_proba","parameters":{"classification":3}}]}`), int64(-1))
	header := `{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":9}}],"parameters":{"binary_data_output":true}}`
	f.Add(append([]byte(header), bytesTensor("a cnn")...), int64(len(header)))
	f.Add([]byte("Object detection with CNNs"), int64(0))
	f.Add([]byte(`{"inputs":[]}`), int64(99999999999))

	s := fuzzServer(f)
	route := specRoutes(loadSpec(f))["oipInfer"]
	require.NotNil(f, route)

	f.Fuzz(func(t *testing.T, body []byte, headerLength int64) {
		r := request{method: http.MethodPost, path: "/v2/models/tagifai/infer", body: string(body)}
		if headerLength >= 0 {
			r.header = http.Header{oipHeaderLength: {strconv.FormatInt(headerLength, 10)}}
		}
		rec := do(s, r)
		require.Less(t, rec.Code, 500, "body: %.300s", rec.Body.Bytes())
		got := validateResponse(t, route, r, rec.Code, rec.Header(), rec.Body.Bytes())
		if rec.Code != http.StatusOK {
			require.Equal(t, http.StatusBadRequest, rec.Code, "body: %.300s", rec.Body.Bytes())
			require.IsType(t, "", got["error"])
			return
		}
		if got == nil { // binary: the JSON header says how many tags there are
			n, err := strconv.Atoi(rec.Header().Get(oipHeaderLength))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(rec.Body.Bytes()[:n], &got))
		}
		outputs := got["outputs"].([]any)
		require.NotEmpty(t, outputs)
	})
}
