// Package server serves the TagIfAI API described by openapi.yaml: it
// implements gen.StrictServerInterface on top of a model.Classifier, validates
// every request against the embedded spec, and answers errors in the
// documented envelope.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tagifai/tagifai/batch"
	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// Predictor tags texts. *model.Classifier is one; tests use fakes.
type Predictor interface {
	// Classes returns the class names, in the order of Prediction.Probabilities.
	Classes() []string
	// PredictBatch returns one prediction for each text, in order.
	PredictBatch(texts []string) []model.Prediction
}

// ModelInfo is what the API reports about a model.
type ModelInfo struct {
	// Name and Version identify the model in metrics and responses.
	Name    string
	Version int
	// RunID identifies the training run that produced the model.
	RunID string
	// Checksum is the hex SHA-256 of the artifact, when it came from the
	// registry; it tells a version from another uploaded under the same
	// number.
	Checksum string
	// Args is any value that encodes to a JSON object (model.Args).
	Args any
	// Performance is what GET /performance reports.
	Performance model.Performance
	// LoadDuration is how long loading the model took.
	LoadDuration time.Duration
}

// Serving is a model ready to answer requests: the predictor and what the
// API reports about it, computed once when the model is loaded.
type Serving struct {
	ModelInfo
	Predictor   Predictor
	args        map[string]any
	performance gen.Performance
}

// NewServing makes predictor servable with the API's view of info.
func NewServing(info ModelInfo, predictor Predictor) (*Serving, error) {
	raw, err := json.Marshal(info.Args)
	if err != nil {
		return nil, fmt.Errorf("server: encode args: %w", err)
	}
	var args map[string]any
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, fmt.Errorf("server: args must encode to a JSON object: %w", err)
	}
	return &Serving{ModelInfo: info, Predictor: predictor, args: args, performance: toPerformance(info.Performance)}, nil
}

// FromArtifact makes a trained artifact servable under name and version.
func FromArtifact(name string, version int, a *model.Artifact, loadDuration time.Duration) (*Serving, error) {
	return NewServing(ModelInfo{
		Name: name, Version: version, RunID: a.RunID,
		Args: a.Args, Performance: a.Performance, LoadDuration: loadDuration,
	}, a.Classifier)
}

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

// Config holds the server's settings. The zero value of a field means its
// default.
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
	// Registry holds model versions and users. Without it the registry and
	// user operations answer 503 and every API key is refused.
	Registry *registry.Registry
	// ModelName is the model whose serving version answers POST /predict;
	// default: DefaultModelName.
	ModelName string
	// RequireAuth demands a predictor's API key for predictions.
	RequireAuth bool
	// MaxUploadBytes bounds uploaded artifacts and CSV files; default:
	// registry.MaxArtifactBytes.
	MaxUploadBytes int64
	// BatchWorkers is how many batch jobs run at once; default: 1.
	BatchWorkers int
	// ReplicaID names this server among the replicas sharing a database:
	// it claims batch jobs under this name, and, restarted under the same
	// name, takes back at once the jobs it left unfinished; default: the
	// host name.
	ReplicaID string
	// StoredCacheItems bounds how many stored predictions of the serving
	// version stay in memory for GET /predictions/{item-id}; default:
	// DefaultStoredCacheItems; negative turns the cache off.
	StoredCacheItems int
	// ServingPollInterval is how often, once started, the server reads the
	// serving version from the database to follow changes made through
	// other replicas; default: DefaultServingPollInterval; negative turns
	// following off.
	ServingPollInterval time.Duration
}

// versionCacheSize is how many versions besides the serving one stay loaded
// for named-version predictions.
const versionCacheSize = 4

// DefaultModelName names the model that POST /predict serves by default.
const DefaultModelName = "tagifai"

// DefaultMaxBodyBytes is the default limit on request bodies: room for the
// largest valid /predict request (1,000 texts) at typical lengths.
const DefaultMaxBodyBytes = 4 << 20

// Server is the TagIfAI HTTP API.
type Server struct {
	echo *echo.Echo
	// middleware is the middleware chain, outermost first, and chain
	// the same composed once (see enterChain).
	middleware []echo.MiddlewareFunc
	chain      echo.HandlerFunc
	log        *slog.Logger
	started    time.Time
	metrics    *metrics
	registry   *registry.Registry
	modelName  string
	serving    atomic.Pointer[Serving]
	// swapMu serialises changes of the serving version, so that the
	// database's serving pointer and the one in memory agree.
	swapMu sync.Mutex
	// versions caches versions loaded for named-version predictions.
	versions *versionCache
	// batch runs batch jobs; nil without a registry.
	batch *batch.Runner
	// stored caches the serving version's stored predictions; nil when
	// off. It is replaced before each new serving version is.
	stored           atomic.Pointer[storedCache]
	storedCacheItems int
	// servingPoll is how often to follow the database's serving version;
	// 0 for never.
	servingPoll time.Duration

	// writable caches the registry's write check for readiness.
	writable writableCache

	// bgMu guards bgCtx and bgStopped: background work (following the
	// serving version, filling caches) starts only between Start and Wait,
	// and bg counts it.
	bgMu      sync.Mutex
	bgCtx     context.Context
	bgStopped bool
	bg        sync.WaitGroup
}

var _ gen.StrictServerInterface = (*Server)(nil)

// New builds the server: the embedded spec, the request validator, the
// strict handlers, the docs and the error handler. It serves 503 until
// SetServing is called.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = registry.MaxArtifactBytes
	}
	if cfg.ModelName == "" {
		cfg.ModelName = DefaultModelName
	}
	if cfg.ReplicaID == "" {
		cfg.ReplicaID = defaultReplicaID()
	}
	if cfg.StoredCacheItems == 0 {
		cfg.StoredCacheItems = DefaultStoredCacheItems
	}
	switch {
	case cfg.ServingPollInterval == 0:
		cfg.ServingPollInterval = DefaultServingPollInterval
	case cfg.ServingPollInterval < 0:
		cfg.ServingPollInterval = 0
	}
	spec, err := loadEmbeddedSpec()
	if err != nil {
		return nil, err
	}
	s := &Server{log: cfg.Logger, started: time.Now(), metrics: newMetrics(),
		registry: cfg.Registry, modelName: cfg.ModelName, versions: newVersionCache(versionCacheSize),
		storedCacheItems: cfg.StoredCacheItems, servingPoll: cfg.ServingPollInterval}

	if cfg.Registry != nil {
		s.batch = batch.NewRunner(cfg.Registry.Store(), s.loadClassifier, cfg.Logger, batchObserver{s.metrics}, cfg.BatchWorkers, cfg.ReplicaID)
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	s.echo = e

	ops, err := newOperations(spec.doc)
	if err != nil {
		return nil, err
	}
	// The middleware chain, composed once (see serve), outermost first.
	mws := []echo.MiddlewareFunc{s.metrics.instrument, s.accessLog, s.recoverPanic,
		oipBody(cfg.MaxBodyBytes), // /v2 bodies: decompress, frame, bound
		bodyGuard(ops, cfg.MaxBodyBytes, cfg.MaxUploadBytes)}
	var auth Authenticator
	if cfg.Registry != nil {
		auth = cfg.Registry
	}
	authFn := authenticate(auth, cfg.RequireAuth)
	if cfg.DisableValidation {
		mws = append(mws, authOnly(ops, authFn), withUser)
	} else {
		validator, err := newValidator(spec.doc, ops, authFn)
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

// SetServing makes m the model that answers requests. Requests already
// running finish on the model they started with.
func (s *Server) SetServing(m *Serving) {
	s.metrics.modelLoadSeconds.WithLabelValues(m.Name, strconv.Itoa(m.Version)).Set(m.LoadDuration.Seconds())
	cache := newStoredCache(m, s.storedCacheItems)
	s.stored.Store(cache)
	s.serving.Store(m)
	s.log.Info("serving model", slog.String("model", m.Name), slog.Int("version", m.Version), slog.String("run_id", m.RunID))
	s.warm(cache)
}

// Start starts the server's background work until ctx is done: it resumes
// the batch jobs a previous run left unfinished, starts the batch workers,
// follows the database's serving version (see followServing and
// watchServing), and from now on fills each serving version's
// stored-prediction cache from the database. Wait waits for that work to
// stop.
func (s *Server) Start(ctx context.Context) error {
	s.bgMu.Lock()
	s.bgCtx = ctx
	if s.registry != nil && s.servingPoll > 0 {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.followServing(ctx, s.servingPoll)
		}()
		if w, ok := s.registry.Store().(registry.ServingWatcher); ok {
			s.bg.Add(1)
			go func() {
				defer s.bg.Done()
				s.watchServing(ctx, w)
			}()
		}
	}
	s.bgMu.Unlock()
	s.warm(s.stored.Load())
	if s.batch == nil {
		return nil
	}
	return s.batch.Start(ctx)
}

// Wait waits for the background work that Start began to stop, after the
// context given to Start is done: batch workers stop after their current
// chunk.
func (s *Server) Wait() {
	s.bgMu.Lock()
	s.bgStopped = true
	s.bgMu.Unlock()
	s.bg.Wait()
	if s.batch != nil {
		s.batch.Wait()
	}
}

// Ready reports whether a model is loaded.
func (s *Server) Ready() bool { return s.serving.Load() != nil }

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r) }

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
// for up to shutdownTimeout, and stops batch jobs between chunks. Closing
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
	ln = &closeOnceListener{Listener: framingListener{ln}}
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
	s.Wait() // ctx is done: batch workers stop after their current chunk
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

// defaultReplicaID is the host name, which is unique among the pods of a
// Kubernetes Deployment, or "tagifai" when there is none.
func defaultReplicaID() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "tagifai"
}
