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
// answers) and the batch runner. This is the only place that wires them.
type services struct {
	api     *server.Server
	serving *serving.Manager
	batch   *batch.Runner
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
	runner := batch.NewRunner(store, batchLoader(mgr), log, metrics.Batch(), cfg.batchWorkers, replicaID)
	api, err := server.New(server.Config{
		Logger: log, MaxBodyBytes: cfg.maxBodyBytes, SpecYAML: openapiYAML, DisableValidation: cfg.noValidation,
		Store: store, Registry: reg, Serving: mgr, Batch: runner, Metrics: metrics, RequireAuth: cfg.requireAuth,
		ReplicaID: replicaID,
	})
	if err != nil {
		return nil, err
	}
	return &services{api: api, serving: mgr, batch: runner}, nil
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
// services one after another, in this order:
//
//  1. the HTTP server: it stops accepting, then lets requests in flight
//     finish (up to shutdownTimeout), so that no new job or deployment
//     arrives after it;
//  2. the batch runner: jobs stop after their current chunk and are given
//     back, to be resumed by the next replica that starts;
//  3. the serving lifecycle: it stops following the database's serving
//     version and filling caches.
//
// The caller closes the registry after run returns.
func (s *services) run(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	return runInOrder(ctx,
		actor{"http", func(ctx context.Context) error { return s.api.Serve(ctx, ln, shutdownTimeout) }},
		actor{"batch", func(ctx context.Context) error {
			if err := s.batch.Start(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			s.batch.Wait()
			return nil
		}},
		actor{"serving", s.serving.Run},
	)
}

// actor is one long-running service: run works until its context is done.
type actor struct {
	name string
	run  func(ctx context.Context) error
}

// runInOrder runs the actors together until ctx is done or one of them
// returns, then stops them in the order given, each once the one before it
// has returned, and returns the first error.
func runInOrder(ctx context.Context, actors ...actor) error {
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(actors))
	stops := make([]context.CancelFunc, len(actors))
	for i, a := range actors {
		actx, stop := context.WithCancel(context.WithoutCancel(ctx))
		stops[i] = stop
		go func() { results <- result{i, a.run(actx)} }()
	}
	returned := make([]bool, len(actors))
	var first error
	note := func(r result) {
		returned[r.i] = true
		if r.err != nil && first == nil {
			first = fmt.Errorf("%s: %w", actors[r.i].name, r.err)
		}
	}
	select {
	case <-ctx.Done():
	case r := <-results:
		note(r)
	}
	for i := range actors {
		stops[i]()
		for !returned[i] {
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
