package server

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// compress returns b in the Content-Encoding enc.
func compress(t *testing.T, enc string, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "raw deflate":
		fw, err := flate.NewWriter(&buf, flate.DefaultCompression)
		require.NoError(t, err)
		w = fw
	}
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.String()
}

// TestCompressedBodies: a body sent gzip or deflate (zlib or raw) is taken
// on every operation as if it were sent plain, its limit counted on what
// it decodes to; an unknown encoding is a 415 and a body that is not what
// its encoding says a 400, each in the documented shape.
func TestCompressedBodies(t *testing.T) {
	t.Parallel()
	s, _, _ := newRegistryServer(t, false)
	routes := specRoutes(loadSpec(t))
	predict := []byte(`{"texts":[{"text":"Object detection with YOLO and CNNs"}]}`)
	csv := []byte("id,text\nz1,Object detection with YOLO\nz2,BERT for sentiment\n")
	bomb := []byte(`{"texts":[{"text":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}]}`)
	for _, tc := range []struct {
		name, op, path, contentType, encoding, body string
		status                                      int
		problem                                     string // the first problem's type
	}{
		{"gzip JSON", "predict", "/predict", jsonCT, "gzip", compress(t, "gzip", predict), 200, ""},
		{"x-gzip JSON", "predict", "/predict", jsonCT, "x-gzip", compress(t, "gzip", predict), 200, ""},
		{"deflate (zlib) JSON", "predict", "/predict", jsonCT, "deflate", compress(t, "deflate", predict), 200, ""},
		{"raw deflate JSON", "predict", "/predict", jsonCT, "Deflate", compress(t, "raw deflate", predict), 200, ""},
		{"identity", "predict", "/predict", jsonCT, "identity", string(predict), 200, ""},
		{"gzip CSV batch job", "createBatchJob", "/batch-jobs", "text/csv", "gzip", compress(t, "gzip", csv), 202, ""},
		{"brotli", "predict", "/predict", jsonCT, "br", "\x0b\x02\x80", 415, typeUnsupportedMediaType},
		{"two encodings", "predict", "/predict", jsonCT, "gzip, br", compress(t, "gzip", predict), 415, typeUnsupportedMediaType},
		{"not gzip", "predict", "/predict", jsonCT, "gzip", string(predict), 400, typeJSONInvalid},
		{"gzip cut short", "predict", "/predict", jsonCT, "gzip", compress(t, "gzip", predict)[:20], 400, typeJSONInvalid},
		{"gzip bomb", "predict", "/predict", jsonCT, "gzip", compress(t, "gzip", bomb), 413, typeBodyTooLarge},
		{"gzip of broken JSON", "predict", "/predict", jsonCT, "gzip", compress(t, "gzip", []byte(`{"texts":[`)), 400, typeJSONInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := request{method: "POST", path: tc.path, body: tc.body, contentType: tc.contentType,
				header: http.Header{"Content-Encoding": {tc.encoding}}}
			rec := do(s, r)
			require.Equal(t, tc.status, rec.Code, "%.500s", rec.Body)
			got := validateResponse(t, routes[tc.op], r, rec.Code, rec.Header(), rec.Body.Bytes())
			if tc.problem != "" {
				problems := got["data"].(map[string]any)["errors"].([]any)
				require.NotEmpty(t, problems)
				assert.Equal(t, tc.problem, problems[0].(map[string]any)["type"])
				assert.Less(t, rec.Body.Len(), 4<<10, "the answer does not echo the body")
			}
		})
	}
}
