// Package server serves the TagIfAI API described by openapi.yaml: it
// implements gen.StrictServerInterface on top of a model.Classifier, validates
// every request against the embedded spec, and answers errors in the
// documented envelope.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/netutil"

	"github.com/tagifai/tagifai/feedback"
	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
)

func toPerformance(p model.Performance) gen.Performance {
	overall := toMetrics(p.Overall)
	out := gen.Performance{Overall: &overall, Class: toMetricsMap(p.Class), Slices: toMetricsMap(p.Slices)}
	if cm := p.ConfusionMatrix; cm != nil {
		out.ConfusionMatrix = &gen.ConfusionMatrix{Labels: cm.Labels, Matrix: cm.Matrix}
	}
	return out
}

func toMetricsMap(m map[string]model.Metrics) *map[string]gen.Metrics {
	out := make(map[string]gen.Metrics, len(m))
	for k, v := range m {
		out[k] = toMetrics(v)
	}
	return &out
}

func toMetrics(m model.Metrics) gen.Metrics {
	return gen.Metrics{Precision: m.Precision, Recall: m.Recall, F1: m.F1, NumSamples: m.NumSamples}
}

// Store is what the handlers read and change in the registry's database
// directly; *registry.SQLStore is one.
type Store interface {
	Models(ctx context.Context) ([]registry.Model, error)
	Model(ctx context.Context, name string) (registry.Model, error)
	Versions(ctx context.Context, name string) ([]registry.Version, error)
	Version(ctx context.Context, name string, version int) (registry.Version, error)
	Users(ctx context.Context) ([]registry.User, error)
	RevokeUser(ctx context.Context, name string) (registry.User, error)
	Job(ctx context.Context, id string) (registry.Job, error)
	Jobs(ctx context.Context, status string, after registry.JobKey, limit int) ([]registry.Job, error)
	JobPredictions(ctx context.Context, id string, from, limit int) ([]registry.StoredPrediction, int, error)
	PredictionVersions(ctx context.Context, model, item string) ([]int, error)
	ChangedItems(ctx context.Context, model string, version int, items []registry.Item) ([]int, error)
	registry.FeedbackStore
	Ping(ctx context.Context) error
	registry.RolloutStore
	AuditEvents(ctx context.Context, f registry.AuditFilter) ([]registry.AuditEvent, error)
}

// Registry is what the handlers need of the registry beyond its database:
// artifact files and API keys; *registry.Registry is one.
type Registry interface {
	Authenticator
	Upload(ctx context.Context, name string, version int, data []byte, uploadedBy string) (registry.Version, bool, error)
	Delete(ctx context.Context, name string, version int) error
	CreateUser(ctx context.Context, name string, role registry.Role) (registry.User, string, error)
}

// BatchQueue takes batch jobs; *batch.Queue is one.
type BatchQueue interface {
	// Submit stores a job and its items and queues its work; see
	// registry.BatchStore.CreateJob.
	Submit(ctx context.Context, j registry.Job, items []registry.Item) (registry.Job, bool, error)
	// Delete deletes a job and its items and cancels its queued work; see
	// registry.BatchStore.DeleteJob.
	Delete(ctx context.Context, id string) (registry.Job, error)
}

// Config holds the server's settings and the parts it serves through,
// which main builds and runs. The zero value of a limit means its default.
type Config struct {
	// Logger receives access logs and errors; default: slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; default: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// SpecYAML is served at /openapi.yaml; default: the embedded spec as JSON
	// converted to YAML.
	SpecYAML []byte
	// DisableValidation turns the OpenAPI request validator off. It exists to
	// measure the validator's cost; never set it in production.
	DisableValidation bool
	// Store, Registry, Serving and Batch are required: the registry's
	// database and files, the serving lifecycle (whose model answers
	// POST /predict) and the batch queue.
	Store    Store
	Registry Registry
	Serving  *serving.Manager
	Batch    BatchQueue
	// Metrics are the metrics the serving lifecycle and the batch runner
	// report to; default: new ones.
	Metrics *Metrics
	// RequireAuth demands a predictor's API key for predictions.
	RequireAuth bool
	// MaxUploadBytes bounds uploaded artifacts and CSV files; default:
	// registry.MaxArtifactBytes.
	MaxUploadBytes int64
	// ReplicaID names this replica in a rollout's figures.
	ReplicaID string
	// MaxConnections bounds the connections Serve keeps open at once;
	// default: the process's limit on open files less 256, at least 64.
	MaxConnections int
	// LiveF1 gives a rollout's sides their live F1; default: from the
	// feedback in the registry's database (POST /feedback).
	LiveF1 LiveF1Func
	// PredictionIDKey signs prediction ids; default: the key kept in the
	// registry's database, made by the first server that needs one, so
	// that replicas sharing the database accept each other's ids.
	PredictionIDKey []byte
}

// DefaultModelName names the model that POST /predict serves by default.
const DefaultModelName = "tagifai"

// DefaultMaxBodyBytes is the default limit on request bodies: room for the
// largest valid /predict request (1,000 texts) at typical lengths.
const DefaultMaxBodyBytes = 4 << 20

// Server is the TagIfAI HTTP API: handlers, error mapping, middleware,
// authentication, docs and metrics. It starts no goroutines of its own.
type Server struct {
	echo *echo.Echo
	// middleware is the middleware chain, outermost first, and chain
	// the same composed once (see enterChain).
	middleware []echo.MiddlewareFunc
	chain      echo.HandlerFunc
	log        *slog.Logger
	maxConns   int
	started    time.Time
	metrics    *metrics
	store      Store
	registry   Registry
	serving    *serving.Manager
	batch      BatchQueue
	modelName  string
	// writable caches the registry's write check for readiness.
	writable  writableCache
	replicaID string
	liveF1    LiveF1Func
	// ids issues and checks prediction ids.
	ids *feedback.Signer
	// liveCache keeps live performance figures for a short while, so that
	// scrapes do not query the database each time.
	liveCache liveCache
}

var _ gen.StrictServerInterface = (*Server)(nil)

// New builds the server: the embedded spec, the request validator, the
// strict handlers, the docs and the error handler. Predictions answer 503
// until cfg.Serving serves a version.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Registry == nil || cfg.Serving == nil || cfg.Batch == nil {
		return nil, errors.New("server: Store, Registry, Serving and Batch are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = connectionLimit()
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = registry.MaxArtifactBytes
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	spec, err := loadEmbeddedSpec()
	if err != nil {
		return nil, err
	}
	s := &Server{log: cfg.Logger, started: time.Now(), metrics: cfg.Metrics.m,
		store: cfg.Store, registry: cfg.Registry, serving: cfg.Serving, batch: cfg.Batch, modelName: cfg.Serving.Model(),
		replicaID: cfg.ReplicaID, liveF1: cfg.LiveF1, maxConns: cfg.MaxConnections}
	if s.ids, err = newSigner(cfg); err != nil {
		return nil, err
	}
	if s.liveF1 == nil {
		s.liveF1 = s.feedbackF1
	}
	s.metrics.registry.MustRegister(monitoringCollector{s})

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	s.echo = e

	ops, err := newOperations(spec.doc)
	if err != nil {
		return nil, err
	}
	// The middleware chain, composed once (see enterChain), outermost first.
	// The key is checked before any body is read: a caller without one
	// gets its 401 (or 403) before sending a body it announced with
	// Expect: 100-continue, and costs nothing to decode or validate.
	authFn := authenticate(cfg.Registry, cfg.RequireAuth)
	mws := []echo.MiddlewareFunc{s.metrics.instrument, s.accessLog, s.recoverPanic,
		authOnly(ops, authFn),
		oipBody(cfg.MaxBodyBytes), // /v2 bodies: decompress, frame, bound
		bodyGuard(ops, cfg.MaxBodyBytes, cfg.MaxUploadBytes)}
	if cfg.DisableValidation {
		mws = append(mws, withUser)
	} else {
		validator, err := newValidator(spec.doc, spec.router, ops, authFn)
		if err != nil {
			return nil, err
		}
		mws = append(mws, validator, withUser)
	}
	s.middleware = mws
	s.chain = compose(callNext, mws...)
	e.Use(s.enterChain)
	gen.RegisterHandlers(e, fastRoutes{ServerInterface: gen.NewStrictHandler(s, nil), s: s})
	if err := registerDocs(e, spec.json, cfg.SpecYAML); err != nil {
		return nil, err
	}
	if err := registerConsole(e); err != nil {
		return nil, err
	}
	return s, nil
}

// Ready reports whether a model is loaded.
func (s *Server) Ready() bool { return s.serving.Current() != nil }

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r) }

// connectionLimit is how many connections Serve keeps open at most: the
// process's soft limit on open files less 256 for the database, the
// artifacts and the rest, and at least 64.
func connectionLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<20 {
		return 1 << 16
	}
	return max(int(rl.Cur)-256, 64)
}

// Timeouts of the http.Server that Serve runs.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
)

// Serve answers requests on ln until ctx is done (hardened below the
// handlers as transport.go describes), then shuts down
// gracefully, as a lame duck: it closes the listener, answers what still
// arrives on open connections with "Connection: close" until their clients
// go (at most min(shutdownTimeout/2, 2s)), lets requests in flight finish
// for up to shutdownTimeout. Closing
// idle keep-alive connections at once would race with requests a client
// is sending on them. A clean shutdown returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	var draining atomic.Bool
	var open atomic.Int64
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if draining.Load() {
				w.Header().Set("Connection", "close")
			}
			serveConn(s, w, r)
		}),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		// OPTIONS * reaches the handler like any request, so that every
		// request read has its handler call (see framingConn).
		DisableGeneralOptionsHandler: true,
		ConnState: func(_ net.Conn, state http.ConnState) {
			switch state {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		},
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// At most s.maxConns connections at once: more wait in the
	// kernel's queue rather than take the descriptors the registry's
	// database needs (20,000 idle connections from one host used them all).
	ln = &closeOnceListener{Listener: framingListener{netutil.LimitListener(ln, s.maxConns)}}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", slog.Duration("timeout", shutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()

	draining.Store(true)
	_ = ln.Close()
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("server: %w", err)
	}
	drainUntil := time.Now().Add(min(shutdownTimeout/2, 2*time.Second))
	for open.Load() > 0 && time.Now().Before(drainUntil) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// closeOnceListener lets Serve close the listener before http.Server's
// Shutdown closes it again.
type closeOnceListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *closeOnceListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}
