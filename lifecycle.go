package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/tagifai/tagifai/batch"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/server"
	"github.com/tagifai/tagifai/serving"
)

// services are the long-running parts of `tagifai serve`, wired together
// over one registry: the HTTP API, the serving lifecycle (which version
// answers) and the batch queue. This is the only place that wires them.
type services struct {
	api     *server.Server
	serving *serving.Manager
	batch   *batch.Queue
}

// wire builds the services of cfg over the registry's store and files.
// Nothing runs until run.
func wire(cfg serveConfig, store *registry.SQLStore, reg *registry.Registry, log *slog.Logger) (*services, error) {
	metrics := server.NewMetrics()
	mgr := serving.New(serving.Config{
		Model: cfg.modelName, Store: store, Artifacts: reg, Observer: metrics.Serving(), Logger: log,
		StoredCacheItems: cfg.storedCache, PollInterval: cfg.servingPoll, MonitoringCPU: monitoringCPU(cfg.monitoring),
	})
	replicaID := cfg.replicaID
	if replicaID == "" {
		replicaID = defaultReplicaID()
	}
	queue, err := batch.NewQueue(context.Background(), batch.Config{Store: store, Observer: metrics.Batch(batch.Depth(store)), Load: batchLoader(mgr), Logger: log,
		Workers: cfg.batchWorkers, Replica: replicaID, StopTimeout: cfg.shutdownTimeout})
	if err != nil {
		return nil, err
	}
	api, err := server.New(server.Config{
		Logger: log, MaxBodyBytes: cfg.maxBodyBytes, SpecYAML: openapiYAML, DisableValidation: cfg.noValidation,
		Store: store, Registry: reg, Serving: mgr, Batch: queue, Metrics: metrics, RequireAuth: cfg.requireAuth,
		ReplicaID: replicaID,
	})
	if err != nil {
		return nil, err
	}
	return &services{api: api, serving: mgr, batch: queue}, nil
}

// monitoringCPU is the share of a core monitoring may take: its default,
// or none when it is off.
func monitoringCPU(on bool) float64 {
	if on {
		return serving.DefaultMonitoringCPU
	}
	return 0
}

// batchLoader gives the batch runner its versions from the same cache as
// named-version predictions.
func batchLoader(mgr *serving.Manager) batch.Loader {
	return func(ctx context.Context, name string, version int) (batch.Classifier, error) {
		v, err := mgr.Named(ctx, name, version)
		if err != nil {
			return nil, err
		}
		return v.Predictor, nil
	}
}

// run serves on ln until ctx is done or a service fails, then stops the
// services in two stages, so that the whole shutdown ends within
// shutdownTimeout and a small margin (about a second), not one timeout
// after another:
//
//  1. the HTTP server and the batch queue, at once, under the same
//     deadline: the server stops accepting, then lets requests in flight
//     finish (up to shutdownTimeout); chunks that are running get
//     shutdownTimeout to finish, then are cancelled (a second to roll
//     back) and done again later, here or elsewhere. A batch job submitted
//     by a request still in flight is stored with its tasks and worked by
//     another replica, or by this one when it starts again;
//  2. the serving lifecycle, once both have returned: it stops following
//     the database's serving version and filling caches.
//
// The caller closes the registry after run returns.
func (s *services) run(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	return runInStages(ctx,
		[]actor{
			{"http", func(ctx context.Context) error { return s.api.Serve(ctx, ln, shutdownTimeout) }},
			{"batch", s.batch.Run},
		},
		[]actor{{"serving", s.serving.Run}},
	)
}

// actor is one long-running service: run works until its context is done.
type actor struct {
	name string
	run  func(ctx context.Context) error
}

// runInStages runs every actor together until ctx is done or one of them
// returns, then stops them stage by stage: the actors of a stage all at
// once, each stage once every actor of the stages before it has returned.
// It returns the first error.
func runInStages(ctx context.Context, stages ...[]actor) error {
	type result struct {
		stage, i int
		err      error
	}
	n := 0
	for _, st := range stages {
		n += len(st)
	}
	results := make(chan result, n)
	stops := make([]context.CancelFunc, len(stages))
	for si, st := range stages {
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		stops[si] = stop
		for i, a := range st {
			go func() { results <- result{si, i, a.run(sctx)} }()
		}
	}
	left := make([]int, len(stages)) // actors of each stage still running
	for si, st := range stages {
		left[si] = len(st)
	}
	var first error
	note := func(r result) {
		left[r.stage]--
		if r.err != nil && first == nil {
			first = fmt.Errorf("%s: %w", stages[r.stage][r.i].name, r.err)
		}
	}
	select {
	case <-ctx.Done():
	case r := <-results:
		note(r)
	}
	for si := range stages {
		stops[si]()
		for left[si] > 0 {
			note(<-results)
		}
	}
	return first
}

// defaultReplicaID is the host name, which is unique among the pods of a
// Kubernetes Deployment, or "tagifai" when there is none.
func defaultReplicaID() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "tagifai"
}
