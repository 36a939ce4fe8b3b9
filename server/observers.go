package server

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagifai/tagifai/batch"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
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

// Batch returns the observer the batch queue reports to, and counts the
// queue's depth with depth (*batch.Queue's Depth) at each scrape.
func (m *Metrics) Batch(depth func(context.Context) (map[string]int, error)) batch.Observer {
	o := newBatchObserver(depth)
	m.m.registry.MustRegister(o)
	return o
}

// servingObserver counts what the serving lifecycle does.
type servingObserver struct{ m *metrics }

func (o servingObserver) Served(v *serving.Version) {
	o.m.modelLoadSeconds.WithLabelValues(v.Name, strconv.Itoa(v.Version)).Set(v.LoadDuration.Seconds())
	o.m.servingVersion.WithLabelValues(v.Name).Set(float64(v.Version))
	o.m.servingChanges.WithLabelValues(v.Name).Inc()
	// The model's rollout counters exist from the start, at 0, so that a
	// rate or an alert on them has a series before the first event.
	o.m.rolloutShadowCompared.WithLabelValues(v.Name)
	o.m.rolloutShadowAgreed.WithLabelValues(v.Name)
	o.m.rolloutShadowDropped.WithLabelValues(v.Name)
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

// batchObserver is the batch queue's figures: jobs finished and items
// predicted here, and River's own: its chunk tasks by state (queue depth,
// counted at each scrape) and how long this replica's ran and waited, by
// outcome. Every label comes from a fixed set.
type batchObserver struct {
	jobsFinished   *prometheus.CounterVec
	itemsPredicted prometheus.Counter
	taskSeconds    *prometheus.HistogramVec
	taskWait       prometheus.Histogram
	depthDesc      *prometheus.Desc
	depth          func(context.Context) (map[string]int, error)
}

func newBatchObserver(depth func(context.Context) (map[string]int, error)) *batchObserver {
	o := &batchObserver{
		jobsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagifai_batch_jobs_total",
			Help: "Batch jobs finished by this replica's workers, by status (succeeded, failed).",
		}, []string{"status"}),
		itemsPredicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tagifai_batch_items_predicted_total",
			Help: "Items predicted and stored by this replica's batch workers.",
		}),
		taskSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tagifai_batch_task_duration_seconds",
			Help:    "How long River chunk tasks ran on this replica, by outcome (completed, failed, cancelled).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"outcome"}),
		taskWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tagifai_batch_task_wait_seconds",
			Help:    "How long River chunk tasks that this replica ran had waited in the queue.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
		}),
		depthDesc: prometheus.NewDesc("tagifai_batch_tasks",
			"River chunk tasks in the database, by state: the queue's depth, shared by every replica.", []string{"state"}, nil),
		depth: depth,
	}
	// Every status's series exists from the start, at 0.
	for _, status := range []string{registry.JobSucceeded, registry.JobFailed} {
		o.jobsFinished.WithLabelValues(status)
	}
	return o
}

func (o *batchObserver) JobFinished(status string) { o.jobsFinished.WithLabelValues(status).Inc() }
func (o *batchObserver) ItemsPredicted(n int)      { o.itemsPredicted.Add(float64(n)) }
func (o *batchObserver) TaskFinished(outcome string, ran, waited time.Duration) {
	o.taskSeconds.WithLabelValues(outcome).Observe(ran.Seconds())
	o.taskWait.Observe(waited.Seconds())
}

// Describe implements prometheus.Collector.
func (o *batchObserver) Describe(ch chan<- *prometheus.Desc) {
	o.jobsFinished.Describe(ch)
	o.itemsPredicted.Describe(ch)
	o.taskSeconds.Describe(ch)
	o.taskWait.Describe(ch)
	ch <- o.depthDesc
}

// Collect implements prometheus.Collector: the depth is counted within a
// second; a scrape that cannot count it leaves it out.
func (o *batchObserver) Collect(ch chan<- prometheus.Metric) {
	o.jobsFinished.Collect(ch)
	o.itemsPredicted.Collect(ch)
	o.taskSeconds.Collect(ch)
	o.taskWait.Collect(ch)
	if o.depth == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	counts, err := o.depth(ctx)
	if err != nil {
		return
	}
	for _, state := range batch.TaskStates {
		ch <- prometheus.MustNewConstMetric(o.depthDesc, prometheus.GaugeValue, float64(counts[state]), state)
	}
}
