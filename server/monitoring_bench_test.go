package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/tagifai/tagifai/serving"
)

// BenchmarkPredictMonitoring measures POST /predict of one text by the
// committed model with monitoring on and off; cpu-ns/op is the process's
// CPU time per request, the monitoring goroutine's included.
func BenchmarkPredictMonitoring(b *testing.B) {
	body := []byte(`{"texts":[{"text":"` + benchText + `"}]}`)
	for _, bc := range []struct {
		name string
		cpu  float64
	}{{"on", serving.DefaultMonitoringCPU}, {"off", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			s, _, _ := newRegistryServer(b, false, func(c *testConfig) {
				c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
				c.Serving.MonitoringCPU = bc.cpu
			})
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
			time.Sleep(50 * time.Millisecond) // let the monitor drain what is queued
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(s.serving.Monitoring(s.serving.Current()).Dropped)/float64(b.N), "dropped/op")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
