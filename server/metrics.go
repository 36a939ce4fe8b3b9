package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/serving"
)

// metrics are the server's Prometheus metrics. Every label has a bounded
// set of values, none taken as it is from a request: route templates, not
// raw paths; the methods the router serves, any other being unservedMethod;
// the status codes the server writes; model versions that were loaded; the
// model's classes; fixed job and cache outcomes.
type metrics struct {
	registry         *prometheus.Registry
	requestDuration  *prometheus.HistogramVec
	inFlight         prometheus.Gauge
	predictions      *prometheus.CounterVec
	confidence       *prometheus.HistogramVec
	textsPerRequest  prometheus.Histogram
	modelLoadSeconds *prometheus.GaugeVec
	// servingVersion and servingChanges say which version this replica
	// serves and how often that changed (deployments followed).
	servingVersion *prometheus.GaugeVec
	servingChanges *prometheus.CounterVec
	// storedCacheHits and storedCacheMisses count lookups of stored
	// predictions answered from memory and from the database.
	storedCacheHits   prometheus.Counter
	storedCacheMisses prometheus.Counter
	// Rollouts: requests by version and role (serving, canary, shadow);
	// the shadow candidate's comparisons, agreement and dropped requests.
	rolloutRequests        *prometheus.CounterVec
	rolloutShadowCompared  *prometheus.CounterVec
	rolloutShadowAgreed    *prometheus.CounterVec
	rolloutShadowAgreement *prometheus.GaugeVec
	rolloutShadowDropped   *prometheus.CounterVec
	// methods are the methods some route serves, read from the router on
	// the first request, when every route is registered.
	methodsOnce sync.Once
	methods     map[string]bool

	// Metrics resolved by their label values once, not on every request:
	// the request-duration observer of each route, method and status, and
	// the prediction metrics of each model version. Their keys are as
	// bounded as the labels.
	resolvedMu sync.RWMutex
	durations  map[durationKey]prometheus.Observer
	versions   map[versionKey]*versionMetrics
}

type durationKey struct {
	route, method string
	code          int
}

type versionKey struct {
	name    string
	version int
}

// versionMetrics are the prediction metrics of one model version.
type versionMetrics struct {
	confidence prometheus.Observer
	// predictions counts by tag, for the predictor's classes, each
	// resolved on its first prediction (so that /metrics shows only tags
	// predicted); other tags are resolved on each use.
	predictions map[string]func() prometheus.Counter
}

// unservedMethod is the method label of requests whose method no route
// serves: a client sending made-up methods adds no label values.
const unservedMethod = "OTHER"

func newMetrics() *metrics {
	m := &metrics{
		registry:  prometheus.NewRegistry(),
		durations: map[durationKey]prometheus.Observer{},
		versions:  map[versionKey]*versionMetrics{},
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tagifai_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template, method and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tagifai_http_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagifai_predictions_total",
			Help: "Predictions made, by model, version and predicted tag.",
		}, []string{"model", "version", "tag"}),
		confidence: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tagifai_prediction_confidence",
			Help:    "Probability of the winning class of each prediction, by model and version; a shift shows drift.",
			Buckets: []float64{.3, .4, .5, .6, .7, .8, .9, .95, .99},
		}, []string{"model", "version"}),
		textsPerRequest: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tagifai_texts_per_request",
			Help:    "Texts in each prediction request.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
		modelLoadSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tagifai_model_load_duration_seconds",
			Help: "Time it took to load a model, by model and version.",
		}, []string{"model", "version"}),
	}
	m.servingVersion = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tagifai_serving_version",
		Help: "The version of the model this replica serves, by model: a replica that stopped following deployments shows another number than its peers.",
	}, []string{"model"})
	m.servingChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tagifai_serving_changes_total",
		Help: "Times a version started to serve on this replica (the first load, each deployment or rollback followed), by model.",
	}, []string{"model"})
	storedCache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tagifai_stored_prediction_cache_lookups_total",
		Help: "Lookups of stored predictions of the serving version, by result: hit (answered from memory) or miss (asked the database).",
	}, []string{"result"})
	m.storedCacheHits = storedCache.WithLabelValues("hit")
	m.storedCacheMisses = storedCache.WithLabelValues("miss")
	m.rolloutRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tagifai_rollout_requests_total",
		Help: "Requests seen during rollouts, by model, version and role: serving (answered by the serving version), canary (answered by the candidate), shadow (copied to the candidate).",
	}, []string{"model", "version", "role"})
	m.rolloutShadowCompared = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tagifai_rollout_shadow_compared_total",
		Help: "Predictions of a shadow candidate compared with the serving version's, by model.",
	}, []string{"model"})
	m.rolloutShadowAgreed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tagifai_rollout_shadow_agreed_total",
		Help: "Of the compared predictions, those where the shadow candidate gave the serving version's tag, by model.",
	}, []string{"model"})
	m.rolloutShadowAgreement = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tagifai_rollout_shadow_agreement",
		Help: "Agreement rate of the running shadow rollout since it started on this replica, by model.",
	}, []string{"model"})
	m.rolloutShadowDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tagifai_rollout_shadow_dropped_total",
		Help: "Requests not shadowed because the shadow queue was full, by model.",
	}, []string{"model"})
	m.registry.MustRegister(
		m.rolloutRequests, m.rolloutShadowCompared, m.rolloutShadowAgreed, m.rolloutShadowAgreement, m.rolloutShadowDropped,
		m.requestDuration, m.inFlight, m.predictions, m.confidence, m.textsPerRequest, m.modelLoadSeconds,
		m.servingVersion, m.servingChanges, storedCache,
	)
	m.registry.MustRegister(processCollectors()...)
	return m
}

// processCollectors are the Go runtime's, the process's and the build's
// metrics, made once per process and registered by every server: they
// have no state of their own, and making the Go collector matches every
// runtime metric's name against its rules.
var processCollectors = sync.OnceValue(func() []prometheus.Collector {
	return []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	}
})

// instrument records the duration and status of every request.
func (m *metrics) instrument(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		m.inFlight.Inc()
		start := time.Now()
		if st := stateFrom(c.Request().Context()); st != nil {
			start = st.start
		}
		err := next(c)
		if err != nil {
			// Write the error response now, so its status is the one recorded.
			c.Error(err)
		}
		m.inFlight.Dec()
		route := c.Path()
		if route == "" || route == "/*" {
			route = "unmatched"
		}
		m.durationObserver(route, m.methodLabel(c), c.Response().Status).Observe(time.Since(start).Seconds())
		return nil
	}
}

// durationObserver returns the request-duration observer of route, method
// and status code, resolved once.
func (m *metrics) durationObserver(route, method string, code int) prometheus.Observer {
	k := durationKey{route: route, method: method, code: code}
	m.resolvedMu.RLock()
	o, ok := m.durations[k]
	m.resolvedMu.RUnlock()
	if ok {
		return o
	}
	o = m.requestDuration.WithLabelValues(route, method, strconv.Itoa(code))
	m.resolvedMu.Lock()
	m.durations[k] = o
	m.resolvedMu.Unlock()
	return o
}

// versionMetrics returns the prediction metrics of s's model version,
// resolved once.
func (m *metrics) versionMetrics(s *serving.Version) *versionMetrics {
	k := versionKey{name: s.Name, version: s.Version}
	m.resolvedMu.RLock()
	vm, ok := m.versions[k]
	m.resolvedMu.RUnlock()
	if ok {
		return vm
	}
	version := strconv.Itoa(s.Version)
	vm = &versionMetrics{confidence: m.confidence.WithLabelValues(s.Name, version), predictions: map[string]func() prometheus.Counter{}}
	for _, tag := range s.Predictor.Classes() {
		vm.predictions[tag] = sync.OnceValue(func() prometheus.Counter {
			return m.predictions.WithLabelValues(s.Name, version, tag)
		})
	}
	m.resolvedMu.Lock()
	m.versions[k] = vm
	m.resolvedMu.Unlock()
	return vm
}

// methodLabel is the method label of c's request: its method when a route
// serves that method, unservedMethod otherwise.
func (m *metrics) methodLabel(c echo.Context) string {
	m.methodsOnce.Do(func() { m.methods = routeMethods(c.Echo()) })
	if method := requestMethod(c); m.methods[method] {
		return method
	}
	return unservedMethod
}

// routeMethods returns the methods that e's routes serve, HEAD included
// (served on every GET route).
func routeMethods(e *echo.Echo) map[string]bool {
	out := map[string]bool{http.MethodHead: true}
	for _, r := range e.Routes() {
		if r.Method != echo.RouteNotFound {
			out[r.Method] = true
		}
	}
	return out
}

// observePredictions counts predictions by tag and records their confidence.
func (m *metrics) observePredictions(s *serving.Version, preds []model.Prediction) {
	m.textsPerRequest.Observe(float64(len(preds)))
	vm := m.versionMetrics(s)
	for _, p := range preds {
		best := 0.0
		for _, v := range p.Probabilities {
			best = max(best, v)
		}
		vm.confidence.Observe(best)
		if c, ok := vm.predictions[p.Tag]; ok {
			c().Inc()
		} else {
			m.predictions.WithLabelValues(s.Name, strconv.Itoa(s.Version), p.Tag).Inc()
		}
	}
}

// GetMetrics implements GET /metrics.
func (s *Server) GetMetrics(context.Context, gen.GetMetricsRequestObject) (gen.GetMetricsResponseObject, error) {
	families, err := s.metrics.registry.Gather()
	if err != nil {
		return nil, fmt.Errorf("server: gather metrics: %w", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return nil, fmt.Errorf("server: encode metrics: %w", err)
		}
	}
	return gen.GetMetrics200TextResponse(buf.String()), nil
}
