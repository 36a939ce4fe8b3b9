package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunInStagesStopsAStageAtOnce: on SIGTERM the HTTP server and the
// batch queue are stopped together, so that shutdown takes one
// --shutdown-timeout rather than one after the other; the serving
// lifecycle is stopped only once both have returned. Each of the first
// two actors returns only after it has seen the other one stopped: stopped
// one after the other, they would never return.
func TestRunInStagesStopsAStageAtOnce(t *testing.T) {
	t.Parallel()
	httpStopping, batchStopping := make(chan struct{}), make(chan struct{})
	var firstStageDone atomic.Int32
	// waitFor is a stage-one actor: stopped, it waits for the other one's
	// stop, as the HTTP server waits for a request in flight and the queue
	// for a chunk, each up to the same deadline.
	waitFor := func(mine, other chan struct{}) func(context.Context) error {
		return func(ctx context.Context) error {
			<-ctx.Done()
			close(mine)
			select {
			case <-other:
			case <-time.After(time.Minute): // a failure, not a measure
				return errors.New("stopped one after the other")
			}
			firstStageDone.Add(1)
			return nil
		}
	}
	servingSawStageOne := make(chan int32, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runInStages(ctx,
			[]actor{{"http", waitFor(httpStopping, batchStopping)}, {"batch", waitFor(batchStopping, httpStopping)}},
			[]actor{{"serving", func(ctx context.Context) error {
				<-ctx.Done()
				servingSawStageOne <- firstStageDone.Load()
				return nil
			}}},
		)
	}()
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, int32(2), <-servingSawStageOne, "the serving lifecycle stops after the HTTP server and the queue")
}

// TestRunInStagesFirstError: a service that fails stops the others and its
// error, named by the service, is returned.
func TestRunInStagesFirstError(t *testing.T) {
	t.Parallel()
	boom := errors.New("address is in use")
	var stopped atomic.Int32
	untilStopped := func(ctx context.Context) error { <-ctx.Done(); stopped.Add(1); return nil }
	err := runInStages(context.Background(),
		[]actor{{"http", func(context.Context) error { return boom }}, {"batch", untilStopped}},
		[]actor{{"serving", untilStopped}},
	)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, "http: address is in use", err.Error())
	assert.Equal(t, int32(2), stopped.Load())
}
