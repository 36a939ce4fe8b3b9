package batch

import (
	"context"
	"database/sql"
	"time"

	"github.com/riverqueue/river"

	"github.com/tagifai/tagifai/registry"
)

// Observer hears what the queue does, for metrics: jobs finished here,
// items predicted here, and River's chunk tasks that ended here, by
// outcome (completed, failed, cancelled), with how long each ran and had
// waited in the queue.
type Observer interface {
	JobFinished(status string)
	ItemsPredicted(n int)
	TaskFinished(outcome string, ran, waited time.Duration)
}

// TaskStates are the states of River's tasks that Depth counts.
var TaskStates = []string{"available", "scheduled", "retryable", "running"}

type noObserver struct{}

func (noObserver) JobFinished(string)                                {}
func (noObserver) ItemsPredicted(int)                                {}
func (noObserver) TaskFinished(string, time.Duration, time.Duration) {}

// observe reports a River event of a task that ended here.
func observe(o Observer, ev *river.Event) {
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
	o.TaskFinished(outcome, ev.JobStats.RunDuration, ev.JobStats.QueueWaitDuration)
}

// Depth returns a function that counts the queue's chunk tasks in store's
// database by state (of TaskStates): the queue's depth, shared by every
// replica.
func Depth(store *registry.SQLStore) func(context.Context) (map[string]int, error) {
	return func(ctx context.Context) (map[string]int, error) { return depth(ctx, store.DB()) }
}

func depth(ctx context.Context, db *sql.DB) (map[string]int, error) {
	out := make(map[string]int, len(TaskStates))
	for _, state := range TaskStates {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE queue = $1 AND state = $2`, QueueName, state).Scan(&n); err != nil {
			return nil, err
		}
		out[state] = n
	}
	return out, nil
}
