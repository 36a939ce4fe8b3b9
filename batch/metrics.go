package batch

import (
	"context"
	"database/sql"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
)

// queueMetrics are the batch queue's figures: jobs finished and items
// predicted here, and River's own: its chunk tasks by state (queue depth)
// and how long they waited and ran, by outcome. Every label comes from a
// fixed set.
type queueMetrics struct {
	db             *sql.DB
	jobsFinished   *prometheus.CounterVec
	itemsPredicted prometheus.Counter
	taskSeconds    *prometheus.HistogramVec
	taskWait       prometheus.Histogram
	depth          *prometheus.Desc
}

// taskStates are the states of River tasks counted in the queue depth.
var taskStates = []string{"available", "scheduled", "retryable", "running"}

func newQueueMetrics(db *sql.DB) *queueMetrics {
	return &queueMetrics{
		db: db,
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
		depth: prometheus.NewDesc("tagifai_batch_tasks",
			"River chunk tasks in the database, by state: the queue's depth, shared by every replica.", []string{"state"}, nil),
	}
}

// observe records a finished River task.
func (m *queueMetrics) observe(ev *river.Event) {
	if ev == nil || ev.JobStats == nil {
		return
	}
	outcome := "completed"
	switch ev.Kind {
	case river.EventKindJobFailed:
		outcome = "failed"
	case river.EventKindJobCancelled:
		outcome = "cancelled"
	}
	m.taskSeconds.WithLabelValues(outcome).Observe(ev.JobStats.RunDuration.Seconds())
	m.taskWait.Observe(ev.JobStats.QueueWaitDuration.Seconds())
}

// Describe implements prometheus.Collector.
func (m *queueMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.jobsFinished.Describe(ch)
	m.itemsPredicted.Describe(ch)
	m.taskSeconds.Describe(ch)
	m.taskWait.Describe(ch)
	ch <- m.depth
}

// Collect implements prometheus.Collector: the queue depth is counted at
// each scrape, within a second; a scrape that cannot count it leaves it out.
func (m *queueMetrics) Collect(ch chan<- prometheus.Metric) {
	m.jobsFinished.Collect(ch)
	m.itemsPredicted.Collect(ch)
	m.taskSeconds.Collect(ch)
	m.taskWait.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, state := range taskStates {
		var n int
		if err := m.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE queue = $1 AND state = $2`, QueueName, state).Scan(&n); err != nil {
			return
		}
		ch <- prometheus.MustNewConstMetric(m.depth, prometheus.GaugeValue, float64(n), state)
	}
}

// Collector returns the queue's metrics, for the server's /metrics.
func (q *Queue) Collector() prometheus.Collector { return q.metrics }
