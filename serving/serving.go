// Package serving owns which version of which model answers requests: it
// loads and checks a version off the request path, swaps it in atomically
// (one swap at a time), follows the database's serving pointer (polling,
// and LISTEN/NOTIFY where the database announces changes), keeps the few
// versions asked for by name loaded, keeps the serving version's stored
// predictions in memory, and keeps online statistics of each loaded
// version's predictions (monitoring.go). Its background work runs in Run,
// started and stopped by main; it returns domain errors and knows nothing
// of HTTP.
//
// The HTTP layer asks Route for the version that answers a request and
// tells Report what it predicted: that is where per-version monitoring is
// fed, and where shadow or canary rollouts belong.
package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// Store is what serving needs of the registry's database.
type Store interface {
	Model(ctx context.Context, name string) (registry.Model, error)
	Version(ctx context.Context, name string, version int) (registry.Version, error)
	SetServing(ctx context.Context, name string, version int) error
	Prediction(ctx context.Context, model string, version int, item string) (registry.StoredPrediction, error)
	VersionPredictions(ctx context.Context, model string, version int, after string, limit int) ([]registry.StoredPrediction, error)
}

// Artifacts opens a version's artifact, checked against its recorded
// checksum; *registry.Registry is one.
type Artifacts interface {
	Open(ctx context.Context, name string, version int) (*model.Artifact, registry.Version, error)
}

// watcher is a Store that announces serving-version changes
// (registry.ServingWatcher).
type watcher interface {
	WatchServing(ctx context.Context, changed func(model string)) error
}

// Observer hears what serving does, for metrics and, later, monitoring.
type Observer interface {
	// Served is told of each version that starts to serve.
	Served(v *Version)
	// Predicted is told of the predictions v made for one request.
	Predicted(v *Version, preds []model.Prediction)
	// StoredLookup is told whether a lookup of a stored prediction was
	// answered from memory.
	StoredLookup(hit bool)
}

// Defaults of the settings that can be turned off; the command's flags
// use them.
const (
	// DefaultStoredCacheItems: about 15 MB of stored predictions.
	DefaultStoredCacheItems = 100_000
	// DefaultPollInterval is how often the database's serving version is
	// read to follow changes made through other replicas.
	DefaultPollInterval = 5 * time.Second
)

// namedVersions is how many versions besides the serving one stay loaded
// for named-version predictions.
const namedVersions = 4

// Config holds the settings of a Manager. A zero setting is off: the
// command's flags give the defaults (DefaultStoredCacheItems,
// DefaultPollInterval).
type Config struct {
	// Model is the model whose serving version answers POST /predict.
	Model     string
	Store     Store
	Artifacts Artifacts
	// Observer may be nil.
	Observer Observer
	Logger   *slog.Logger
	// StoredCacheItems bounds how many stored predictions of the serving
	// version stay in memory; 0: none.
	StoredCacheItems int
	// PollInterval is how often Run reads the serving version from the
	// database; 0: Run does not follow it.
	PollInterval time.Duration
	// MonitoringCPU is the share of one core that monitoring may take to
	// observe the predictions Report is told of (DefaultMonitoringCPU);
	// beyond, it drops them and counts them. 0: no monitoring.
	MonitoringCPU float64
	// GuardInterval is how often a canary's guard judges its candidate's
	// live F1; 0: DefaultGuardInterval.
	GuardInterval time.Duration
}

// Manager owns the serving version of one model and the versions loaded
// beside it. Its methods are safe for concurrent use.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	store Store
	obs   Observer

	serving atomic.Pointer[Version]
	// stored caches the serving version's stored predictions; nil when
	// off. It is replaced before each new serving version is.
	stored atomic.Pointer[storedCache]
	// warm holds the newest cache to fill; Run fills it.
	warm chan *storedCache
	// swapMu serialises changes of the serving version, so that the
	// database's serving pointer and the one in memory agree.
	swapMu sync.Mutex
	named  *versionCache

	// rollout is the running rollout of the model, nil for none; lastRun
	// is the run whose figures RolloutStats gives; rolloutMu serialises
	// changes of both; runs hands each new run to Run's shadow worker.
	rollout   atomic.Pointer[liveRollout]
	lastRun   atomic.Pointer[rolloutRun]
	rolloutMu sync.Mutex
	runs      chan *rolloutRun
	robs      RolloutObserver
	// recorder feeds reported predictions to their version's monitor;
	// nil when monitoring is off.
	recorder *recorder
	// monitors keeps versions' monitors across loads of the same bytes.
	monitors monitorSet
}

// New returns a manager that serves nothing until LoadServing, Deploy or
// Set.
func New(cfg Config) *Manager {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	obs := cfg.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	robs, ok := obs.(RolloutObserver)
	if !ok {
		robs = nopRolloutObserver{}
	}
	if cfg.GuardInterval <= 0 {
		cfg.GuardInterval = DefaultGuardInterval
	}
	m := &Manager{cfg: cfg, log: log, store: cfg.Store, obs: obs, robs: robs,
		warm: make(chan *storedCache, 1), named: newVersionCache(namedVersions), runs: make(chan *rolloutRun, 1)}
	if cfg.MonitoringCPU > 0 {
		m.recorder = newRecorder(cfg.MonitoringCPU)
	}
	return m
}

// Model returns the name of the model the manager serves.
func (m *Manager) Model() string { return m.cfg.Model }

// ErrNotReady is returned while no version is loaded.
var ErrNotReady = errors.New("serving: no model version is loaded yet")

// LoadError says that a version exists but cannot be loaded: its artifact
// is missing, corrupt or does not decode.
type LoadError struct {
	Model   string
	Version int
	Err     error
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("serving: load version %d of %s: %v", e.Version, e.Model, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// Current returns the serving version, or nil before one is loaded.
func (m *Manager) Current() *Version { return m.serving.Load() }

// Route returns the version that answers a prediction request for the
// served model: the serving version, or, during a canary rollout, the
// candidate for the callers in its share (WithCaller). Report the answer
// with ReportRouted.
func (m *Manager) Route(ctx context.Context) (*Version, error) {
	v := m.serving.Load()
	if v == nil {
		return nil, ErrNotReady
	}
	return m.route(ctx, v), nil
}

// Report tells serving what v predicted for one request: the observer
// hears of it, and v's monitor gets it off the request path (see
// Monitoring). The caller must not change preds afterwards.
func (m *Manager) Report(v *Version, preds []model.Prediction) {
	m.obs.Predicted(v, preds)
	if m.recorder != nil {
		m.recorder.record(v.monitor, preds)
	}
}

// Set makes v the serving version. Requests already running finish on the
// version they started with.
func (m *Manager) Set(v *Version) {
	cache := newStoredCache(v, m.cfg.StoredCacheItems)
	m.stored.Store(cache)
	m.serving.Store(v)
	m.obs.Served(v)
	m.log.Info("serving model", slog.String("model", v.Name), slog.Int("version", v.Version), slog.String("run_id", v.RunID))
	if cache != nil {
		m.requestWarm(cache)
	}
}

// requestWarm hands c to Run's warmer, replacing any cache still waiting.
func (m *Manager) requestWarm(c *storedCache) {
	for {
		select {
		case m.warm <- c:
			return
		default:
		}
		select {
		case <-m.warm:
		default:
		}
	}
}

// LoadServing loads the database's serving version of the model and
// serves it: what a replica does at start-up.
func (m *Manager) LoadServing(ctx context.Context) error {
	mod, err := m.store.Model(ctx, m.cfg.Model)
	if err != nil {
		return err
	}
	if mod.ServingVersion == 0 {
		return fmt.Errorf("serving: model %s has no serving version", m.cfg.Model)
	}
	// The database names this version already: loading it moves nothing
	// there (and records no deployment).
	m.swapMu.Lock()
	err = m.loadAndServe(ctx, m.cfg.Model, mod.ServingVersion, false)
	m.swapMu.Unlock()
	if err != nil {
		return err
	}
	if err := m.SyncRollout(ctx); err != nil {
		m.log.Error("apply the model's rollout", slog.String("error", err.Error()))
	}
	return nil
}

// Deploy makes version of model name the serving one: it loads and checks
// the artifact first, then moves the database's pointer, then swaps the
// version in when name is the served model. A version that cannot be
// loaded is a *LoadError and changes nothing.
func (m *Manager) Deploy(ctx context.Context, name string, version int) error {
	m.swapMu.Lock()
	defer m.swapMu.Unlock()
	return m.loadAndServe(ctx, name, version, true)
}

// loadAndServe loads version of model name and, when name is the served
// model, serves it; movePointer makes it the database's serving version
// too. The caller holds swapMu.
func (m *Manager) loadAndServe(ctx context.Context, name string, version int, movePointer bool) error {
	v, err := m.load(ctx, name, version)
	if err != nil {
		return err
	}
	if movePointer {
		if err := m.store.SetServing(ctx, name, version); err != nil {
			return err
		}
	}
	if name == m.cfg.Model {
		m.Set(v)
	}
	return nil
}

// load reads and checks version of model name. Errors the caller caused
// (an unknown version) are the registry's; any other is a *LoadError.
func (m *Manager) load(ctx context.Context, name string, version int) (*Version, error) {
	start := time.Now()
	art, rv, err := m.cfg.Artifacts.Open(ctx, name, version)
	if err != nil {
		if registry.ErrorCode(err) != "" || ctx.Err() != nil {
			return nil, err
		}
		return nil, &LoadError{Model: name, Version: version, Err: err}
	}
	v, err := fromArtifact(name, version, rv.Checksum, art, time.Since(start))
	if err != nil {
		return nil, &LoadError{Model: name, Version: version, Err: err}
	}
	v.monitor = m.monitors.keep(v)
	return v, nil
}

// Named returns version of model name, for a prediction that names it:
// the serving version when it is that, else a cached one, loaded on first
// use by one load shared by every request that waits for it.
func (m *Manager) Named(ctx context.Context, name string, version int) (*Version, error) {
	if cur := m.serving.Load(); cur != nil && cur.Name == name && cur.Version == version {
		return cur, nil
	}
	// The version may have been deleted, or deleted and uploaded again
	// with other bytes, through another replica since it was cached.
	rv, err := m.store.Version(ctx, name, version)
	if err != nil {
		return nil, err
	}
	fresh := func(v *Version) bool { return v.Checksum == rv.Checksum }
	load := func(ctx context.Context) (*Version, error) { return m.load(ctx, name, version) }
	v, err := m.named.get(ctx, name, version, fresh, load)
	if err == nil && !fresh(v) { // joined a load that began before the upload
		m.named.forget(name, version)
		v, err = m.named.get(ctx, name, version, fresh, load)
	}
	return v, err
}

// Forget drops a version from memory after it is deleted.
func (m *Manager) Forget(name string, version int) { m.named.forget(name, version) }

// StoredPrediction returns cur's stored prediction of item, from memory
// when it can; cur is the version the caller had from Route or Current.
// ENOTFOUND (registry) when there is none.
func (m *Manager) StoredPrediction(ctx context.Context, cur *Version, item string) (registry.StoredPrediction, error) {
	cache := m.stored.Load()
	if cache != nil && cache.owner != cur {
		cache = nil // a swap is under way: this request keeps to the database
	}
	if cache != nil {
		p, ok := cache.get(item)
		m.obs.StoredLookup(ok)
		if ok {
			return p, nil
		}
	}
	p, err := m.store.Prediction(ctx, cur.Name, cur.Version, item)
	if err != nil {
		return registry.StoredPrediction{}, err
	}
	if cache != nil {
		cache.put(p)
	}
	return p, nil
}

// Run does serving's background work until ctx is done: it follows the
// database's serving version (every PollInterval, and at once on the
// database's announcements), fills each new serving version's
// stored-prediction cache, and feeds reported predictions to their
// version's monitor. It returns nil once ctx is done and all of it has
// stopped.
func (m *Manager) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { m.runWarmer(ctx); return nil })
	g.Go(func() error { m.runShadow(ctx); return nil })
	g.Go(func() error { m.runCanaryGuard(ctx, m.cfg.GuardInterval); return nil })
	if m.recorder != nil {
		g.Go(func() error { m.recorder.run(ctx); return nil })
	}
	if m.cfg.PollInterval > 0 {
		g.Go(func() error { m.follow(ctx, m.cfg.PollInterval); return nil })
		if w, ok := m.store.(watcher); ok {
			g.Go(func() error { m.watch(ctx, w); return nil })
		}
	}
	return g.Wait()
}

// runWarmer fills the caches Set hands it, one at a time, until ctx is
// done. A cache replaced while it fills stops filling.
func (m *Manager) runWarmer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-m.warm:
			m.warmStored(ctx, c)
		}
	}
}

// follow keeps the serving version in memory the one the database names,
// checking every interval until ctx is done: replicas that share a
// database follow a deployment or a rollback made through any of them. A
// failure is logged when it first happens and when it clears, not at
// every check.
func (m *Manager) follow(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := m.Sync(ctx)
		if err == nil {
			err = m.SyncRollout(ctx)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && err.Error() != failing:
			failing = err.Error()
			m.log.Warn("following the database's serving version failed; serving the version in memory", slog.String("error", failing))
		case err == nil && failing != "":
			failing = ""
			m.log.Info("following the database's serving version again")
		}
	}
}

// watch follows the database's announcements of serving-version changes,
// when it makes them (PostgreSQL), until ctx is done: a deployment or a
// rollback made through another replica reaches this one in milliseconds
// instead of at the next poll. It listens again after a lost connection,
// waiting longer after each failure (up to 30 s); it reads the serving
// version each time it starts listening, so a change announced while it
// was not is not missed. follow keeps polling all the same.
func (m *Manager) watch(ctx context.Context, w watcher) {
	const minWait, maxWait = 500 * time.Millisecond, 30 * time.Second
	wait := minWait
	for {
		listening := false
		err := w.WatchServing(ctx, func(model string) {
			listening = true
			if model != "" && model != m.cfg.Model {
				return
			}
			if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("serving the version the database announced failed; serving the version in memory",
					slog.String("error", err.Error()))
			}
			if err := m.SyncRollout(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("applying the rollout the database announced failed", slog.String("error", err.Error()))
			}
		})
		switch {
		case errors.Is(err, errors.ErrUnsupported), ctx.Err() != nil:
			return
		case listening:
			wait = minWait
		}
		m.log.Warn("listening for serving-version changes failed; polling until it listens again",
			slog.String("error", err.Error()), slog.Duration("retry_in", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// Sync serves the version the database names for the model, if the one
// in memory is another version, or the same number with other bytes
// (deleted and uploaded again through another replica).
func (m *Manager) Sync(ctx context.Context) error {
	m.swapMu.Lock()
	defer m.swapMu.Unlock()
	mod, err := m.store.Model(ctx, m.cfg.Model)
	if err != nil {
		return err
	}
	if mod.ServingVersion == 0 {
		return nil
	}
	if cur := m.serving.Load(); cur != nil && cur.Version == mod.ServingVersion {
		v, err := m.store.Version(ctx, m.cfg.Model, mod.ServingVersion)
		if err != nil {
			return err
		}
		if v.Checksum == cur.Checksum {
			return nil
		}
	}
	if err := m.loadAndServe(ctx, m.cfg.Model, mod.ServingVersion, false); err != nil {
		return err
	}
	m.log.Info("the database names another serving version; now serving it", slog.String("model", m.cfg.Model), slog.Int("version", mod.ServingVersion))
	return nil
}

type nopObserver struct{}

func (nopObserver) Served(*Version)                        {}
func (nopObserver) Predicted(*Version, []model.Prediction) {}
func (nopObserver) StoredLookup(bool)                      {}
