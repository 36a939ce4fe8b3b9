package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
)

// benchText is a 120-character project text.
var benchText = strings.Repeat("Fine-tuning BERT transformers for named entity recognition ", 3)[:120]

// BenchmarkHandler measures the server's own cost per request (routing,
// validation, JSON, envelope) with a predictor that costs nothing.
func BenchmarkHandler(b *testing.B) {
	one := `{"texts":[{"text":"` + benchText + `"}]}`
	batch := `{"texts":[` + strings.Repeat(`{"text":"`+benchText+`"},`, 99) + `{"text":"` + benchText + `"}]}`
	for _, bc := range []struct {
		name       string
		method     string
		path, body string
		validation bool
	}{
		{"health", "GET", "/", "", true},
		{"predict-1", "POST", "/predict", one, true},
		{"predict-1-no-validation", "POST", "/predict", one, false},
		{"predict-100", "POST", "/predict", batch, true},
		{"predict-100-no-validation", "POST", "/predict", batch, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := newTestServer(b, true, func(c *testConfig) {
				c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
				c.DisableValidation = !bc.validation
			})
			body := []byte(bc.body)
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(bc.method, bc.path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkStoredLookup measures GET /predictions/{item-id} against SQLite,
// from the stored-prediction cache and without it.
func BenchmarkStoredLookup(b *testing.B) {
	for _, bc := range []struct {
		name  string
		items int
	}{{"cache", serving.DefaultStoredCacheItems}, {"no-cache", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			s, reg, _ := newRegistryServer(b, false, func(c *testConfig) {
				c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
				c.Serving.StoredCacheItems = bc.items
			})
			var preds []registry.StoredPrediction
			for i := range 1000 {
				preds = append(preds, storedPred(1, fmt.Sprintf("p%d", i), "mlops"))
			}
			if _, err := reg.SavePredictions(context.Background(), preds); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				rec := do(s, request{method: "GET", path: fmt.Sprintf("/predictions/p%d", i%1000)})
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
				i++
			}
		})
	}
}

// BenchmarkHandlerHarness measures what BenchmarkHandler's loop costs without the
// server: making the request, recording a response of the size of GET /'s.
// The server's own allocations per request are BenchmarkHandler's less
// these.
func BenchmarkHandlerHarness(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 220)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "0123456789abcdef01234567")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/", bytes.NewReader(nil))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
