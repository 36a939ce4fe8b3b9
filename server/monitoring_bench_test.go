package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/tagifai/tagifai/model"
)

// BenchmarkPredictMonitoring measures POST /predict of one text by the
// committed model with monitoring on and off; cpu-ns/op is the process's
// CPU time per request, the monitoring goroutine's included.
func BenchmarkPredictMonitoring(b *testing.B) {
	art, err := model.Load(committedArtifactDir)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"texts":[{"text":"` + benchText + `"}]}`)
	for _, bc := range []struct {
		name string
		off  bool
	}{{"on", false}, {"off", true}} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := New(Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), DisableMonitoring: bc.off})
			if err != nil {
				b.Fatal(err)
			}
			m, err := FromArtifact("tagifai", 1, art, 0)
			if err != nil {
				b.Fatal(err)
			}
			s.SetServing(m)
			ctx, cancel := context.WithCancel(context.Background())
			if err := s.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer func() { cancel(); s.Wait() }()
			cpu0 := cpuTime()
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/predict", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			time.Sleep(2 * recorderTick) // let the monitor drain what is queued
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			if s.recorder != nil {
				b.ReportMetric(float64(s.recorder.dropped.Load())/float64(b.N), "dropped/op")
			}
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
