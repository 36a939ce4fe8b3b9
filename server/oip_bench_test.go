package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkOIPInfer measures the server's own cost per /v2 inference
// request (framing, validation, tensors, JSON or binary encoding) with a
// predictor that costs nothing, beside BenchmarkHandler's predict-1 and
// predict-100.
func BenchmarkOIPInfer(b *testing.B) {
	jsonBody := func(n int) string {
		return `{"inputs":[{"name":"text","datatype":"BYTES","shape":[` + strconv.Itoa(n) + `],"data":[` +
			strings.TrimSuffix(strings.Repeat(`"`+benchText+`",`, n), ",") + `]}]}`
	}
	binaryBody := func(n int) (string, string) {
		texts := make([]string, n)
		for i := range texts {
			texts[i] = benchText
		}
		raw := bytesTensor(texts...)
		header := `{"inputs":[{"name":"text","datatype":"BYTES","shape":[` + strconv.Itoa(n) + `],"parameters":{"binary_data_size":` +
			strconv.Itoa(len(raw)) + `}}],"parameters":{"binary_data_output":true}}`
		return header + string(raw), strconv.Itoa(len(header))
	}
	bin1, bin1Len := binaryBody(1)
	bin100, bin100Len := binaryBody(100)
	for _, bc := range []struct {
		name, body, headerLength string
	}{
		{"json-1", jsonBody(1), ""},
		{"json-100", jsonBody(100), ""},
		{"binary-1", bin1, bin1Len},
		{"binary-100", bin100, bin100Len},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := newTestServer(b, true, func(c *testConfig) { c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil)) })
			body := []byte(bc.body)
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v2/models/tagifai/infer", bytes.NewReader(body))
				if bc.headerLength != "" {
					req.Header.Set(oipHeaderLength, bc.headerLength)
				}
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
