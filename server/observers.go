package server

import (
	"strconv"

	"github.com/tagifai/tagifai/batch"
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

// Batch returns the observer the batch runner reports to.
func (m *Metrics) Batch() batch.Observer { return batchObserver{m.m} }

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

// RolloutRequest implements serving.RolloutObserver.
func (o servingObserver) RolloutRequest(model string, version int, role string) {
	o.m.rolloutRequests.WithLabelValues(model, strconv.Itoa(version), role).Inc()
}

// ShadowCompared implements serving.RolloutObserver.
func (o servingObserver) ShadowCompared(model string, compared, agreed int, rate float64) {
	if compared > 0 {
		o.m.rolloutShadowCompared.WithLabelValues(model).Add(float64(compared))
		o.m.rolloutShadowAgreed.WithLabelValues(model).Add(float64(agreed))
	}
	o.m.rolloutShadowAgreement.WithLabelValues(model).Set(rate)
}

// ShadowDropped implements serving.RolloutObserver.
func (o servingObserver) ShadowDropped(model string) {
	o.m.rolloutShadowDropped.WithLabelValues(model).Inc()
}

var _ serving.RolloutObserver = servingObserver{}

// batchObserver counts batch work.
type batchObserver struct{ m *metrics }

func (o batchObserver) JobFinished(status string) { o.m.batchJobs.WithLabelValues(status).Inc() }
func (o batchObserver) ItemsPredicted(n int)      { o.m.batchItems.Add(float64(n)) }
