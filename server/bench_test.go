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
	"time"

	"github.com/tagifai/tagifai/registry"
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
			s, err := New(Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), DisableValidation: !bc.validation})
			if err != nil {
				b.Fatal(err)
			}
			m, err := NewServing(ModelInfo{Name: "tagifai", Version: 1, RunID: fakeRunID, Args: fakeArgs{}, Performance: fakePerformance}, fakePredictor{})
			if err != nil {
				b.Fatal(err)
			}
			s.SetServing(m)
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

// BenchmarkStoredLookup measures GET /predictions/{item-id} against SQLite.
func BenchmarkStoredLookup(b *testing.B) {
	s, reg, _ := newRegistryServer(b, false)
	var preds []registry.StoredPrediction
	for i := range 1000 {
		preds = append(preds, registry.StoredPrediction{Model: "tagifai", Version: 1, ItemID: fmt.Sprintf("p%d", i), TextSHA256: "x", Tag: "mlops", Probabilities: map[string]float64{"mlops": 1}, CreatedAt: time.Now()})
	}
	if _, err := reg.Store().SavePredictions(context.Background(), preds); err != nil {
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
}
