package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/serving"
)

// Metrics are the server's Prometheus metrics, served at GET /metrics. The
// serving lifecycle and the batch runner report to them through their
// observers, so main makes them first and hands them to each.
type Metrics struct{ m *metrics }

// NewMetrics returns a new set of the server's metrics.
func NewMetrics() *Metrics { return &Metrics{m: newMetrics()} }

// Serving returns the observer the serving lifecycle reports to.
func (m *Metrics) Serving() serving.Observer { return servingObserver{m.m} }

// AddBatch adds the batch queue's figures (*batch.Queue's Collector) to
// the metrics.
func (m *Metrics) AddBatch(c prometheus.Collector) { m.m.registry.MustRegister(c) }

// servingObserver counts what the serving lifecycle does.
type servingObserver struct{ m *metrics }

func (o servingObserver) Served(v *serving.Version) {
	o.m.modelLoadSeconds.WithLabelValues(v.Name, strconv.Itoa(v.Version)).Set(v.LoadDuration.Seconds())
}

func (o servingObserver) Predicted(v *serving.Version, preds []model.Prediction) {
	o.m.observePredictions(v, preds)
}

func (o servingObserver) StoredLookup(hit bool) {
	if hit {
		o.m.storedCacheHits.Inc()
	} else {
		o.m.storedCacheMisses.Inc()
	}
}
