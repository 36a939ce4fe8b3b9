package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/monitor"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
)

// liveWindow is the recent window of live performance.
const liveWindow = 24 * time.Hour

// GetMonitoring implements GET /monitoring.
func (s *Server) GetMonitoring(ctx context.Context, req gen.GetMonitoringRequestObject) (gen.GetMonitoringResponseObject, error) {
	name := s.modelName
	if req.Params.Model != nil {
		name = *req.Params.Model
	}
	var versions []*serving.Version
	cur, err := s.servingOf(ctx, name)
	if err != nil {
		return nil, err
	}
	if cur != nil {
		versions = append(versions, cur)
	}
	if v := req.Params.Version; v != nil && (cur == nil || cur.Version != *v) {
		named, err := s.serving.Named(ctx, name, *v)
		if registry.ErrorCode(err) == registry.ENOTFOUND {
			return nil, problemError(http.StatusNotFound, typeNotFound, fmt.Sprintf("model %s has no version %d", name, *v), "query", "version")
		}
		if err != nil {
			return nil, err
		}
		versions = append(versions, named)
	}
	if len(versions) == 0 {
		return nil, problemError(http.StatusNotFound, typeNotFound,
			fmt.Sprintf("model %s has no serving version; name one with version", name), "query", "model")
	}
	out := make([]gen.VersionMonitoring, len(versions))
	now := time.Now()
	for i, m := range versions {
		if out[i], err = s.versionMonitoring(ctx, m, m == cur, now); err != nil {
			return nil, err
		}
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.GetMonitoring200JSONResponse{
		Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url,
		Data: gen.Monitoring{Versions: out},
	}, nil
}

// servingOf returns the serving version of model name: the one in memory
// for the served model, else the registry's, loaded; nil when the model
// has none.
func (s *Server) servingOf(ctx context.Context, name string) (*serving.Version, error) {
	if name == s.modelName {
		m := s.serving.Current()
		if m == nil {
			return nil, errNotReady
		}
		return m, nil
	}
	mod, err := s.store.Model(ctx, name)
	if err != nil {
		if registry.ErrorCode(err) == registry.ENOTFOUND {
			return nil, problemError(http.StatusNotFound, typeNotFound, fmt.Sprintf("no model named %q", name), "query", "model")
		}
		return nil, err
	}
	if mod.ServingVersion == 0 {
		return nil, nil
	}
	return s.serving.Named(ctx, name, mod.ServingVersion)
}

// versionMonitoring reports on m.
func (s *Server) versionMonitoring(ctx context.Context, m *serving.Version, serving bool, now time.Time) (gen.VersionMonitoring, error) {
	out := gen.VersionMonitoring{Model: m.Name, Version: m.Version, Serving: serving, Drift: []gen.DriftResult{}}
	mon := s.serving.Monitoring(m)
	snap := mon.Snapshot
	out.HasBaseline = mon.HasBaseline
	out.Drifted = snap.Drifted()
	out.Window = gen.MonitoringWindow{
		Capacity: snap.Capacity, MaxAgeSeconds: int(snap.MaxAge / time.Second), Size: snap.Size, Observed: int(snap.Total),
		Dropped: int(mon.Dropped),
	}
	if snap.Size > 0 {
		out.Window.Start, out.Window.End = &snap.Start, &snap.End
	}
	out.Signals.Window = toSignalSummary(snap.Window)
	if snap.Reference != nil {
		ref := toSignalSummary(*snap.Reference)
		out.Signals.Baseline = &ref
	}
	for _, r := range snap.Drift {
		out.Drift = append(out.Drift, toDriftResult(r))
	}
	last, all, err := s.livePerformance(ctx, m, now)
	if err != nil {
		return gen.VersionMonitoring{}, err
	}
	out.LivePerformance.Last24h, out.LivePerformance.All = toLivePerformance(last), toLivePerformance(all)
	return out, nil
}

// livePerformance scores the feedback on m's predictions made in the last
// 24 hours and on all of them; no labels without a registry.
func (s *Server) livePerformance(ctx context.Context, m *serving.Version, now time.Time) (last, all model.Performance, err error) {
	classes := m.Predictor.Classes()
	score := func(since time.Time) (model.Performance, error) {
		return serving.LivePerformance(ctx, s.store, m.Name, m.Version, classes, since)
	}
	if last, err = score(now.Add(-liveWindow)); err != nil {
		return
	}
	all, err = score(time.Time{})
	return
}

func toSignalSummary(s monitor.Signals) gen.SignalSummary {
	sum := func(x monitor.Summary) gen.Summary {
		return gen.Summary{Mean: x.Mean, P10: x.P10, P50: x.P50, P90: x.P90}
	}
	shares := s.TagShares
	if shares == nil {
		shares = map[string]float64{}
	}
	return gen.SignalSummary{
		Count: s.Count, TagShares: shares, Confidence: sum(s.Confidence), Margin: sum(s.Margin),
		Tokens: sum(s.Tokens), OovRate: sum(s.OOVRate), EmptyRate: s.EmptyRate, FallbackRate: s.FallbackRate,
	}
}

func toDriftResult(r monitor.Result) gen.DriftResult {
	out := gen.DriftResult{
		Signal: gen.DriftResultSignal(r.Signal), Test: gen.DriftResultTest(r.Test), Statistic: r.Statistic,
		PValue: r.PValue, WindowSize: r.WindowSize, ReferenceSize: r.ReferenceSize, Enough: r.Enough, Drifted: r.Drifted,
	}
	threshold := r.Threshold
	if r.Test == monitor.TestThreshold {
		out.Threshold = &threshold
	} else {
		out.Significance = &threshold
	}
	if r.Test == monitor.TestChiSquared {
		dof := r.DegreesOfFreedom
		out.DegreesOfFreedom = &dof
	}
	return out
}

func toLivePerformance(p model.Performance) gen.LivePerformance {
	out := gen.LivePerformance{Labels: p.Overall.NumSamples, Overall: toMetrics(p.Overall), Class: *toMetricsMap(p.Class)}
	if cm := p.ConfusionMatrix; cm != nil {
		out.ConfusionMatrix = &gen.ConfusionMatrix{Labels: cm.Labels, Matrix: cm.Matrix}
	}
	return out
}

// liveCacheTTL is how long /metrics reuses the live performance it read.
const liveCacheTTL = 15 * time.Second

// liveCache keeps the last live performance read for /metrics.
type liveCache struct {
	mu        sync.Mutex
	key       string
	at        time.Time
	last, all model.Performance
}

// Prometheus descriptions of monitoring. Labels are bounded: model and
// version of the serving version (from the registry), signal from the
// four monitored, window from two.
var (
	driftStatisticDesc = prometheus.NewDesc("tagifai_drift_statistic",
		"Statistic of each drift test of the serving version's window against its training baseline: chi-squared X² (tag), Kolmogorov-Smirnov D (confidence, tokens), mean (oov_rate).",
		[]string{"model", "version", "signal"}, nil)
	driftPValueDesc = prometheus.NewDesc("tagifai_drift_p_value",
		"P-value of each drift test of the serving version (tag, confidence, tokens); drift below 0.05.",
		[]string{"model", "version", "signal"}, nil)
	driftDetectedDesc = prometheus.NewDesc("tagifai_drift_detected",
		"1 when a drift test of the serving version flags drift (with at least 50 predictions in the window), else 0.",
		[]string{"model", "version", "signal"}, nil)
	windowSizeDesc = prometheus.NewDesc("tagifai_monitoring_window_predictions",
		"Predictions in the serving version's monitoring window.",
		[]string{"model", "version"}, nil)
	droppedDesc = prometheus.NewDesc("tagifai_monitoring_dropped_total",
		"Predictions left out of monitoring because it could not keep up.", nil, nil)
	liveF1Desc = prometheus.NewDesc("tagifai_live_f1",
		"Weighted F1 of the serving version from feedback, on predictions of the last 24 hours (window=24h) or all (window=all).",
		[]string{"model", "version", "window"}, nil)
	feedbackLabelsDesc = prometheus.NewDesc("tagifai_feedback_labels",
		"Feedback labels behind tagifai_live_f1.",
		[]string{"model", "version", "window"}, nil)
	holdoutF1Desc = prometheus.NewDesc("tagifai_holdout_f1",
		"Weighted F1 of the serving version on its holdout set, at training.",
		[]string{"model", "version"}, nil)
)

// monitoringCollector exports the serving version's monitoring at each
// scrape: only the version serving now has series, so none go stale.
type monitoringCollector struct{ s *Server }

func (c monitoringCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{driftStatisticDesc, driftPValueDesc, driftDetectedDesc, windowSizeDesc, droppedDesc, liveF1Desc, feedbackLabelsDesc, holdoutF1Desc} {
		ch <- d
	}
}

func (c monitoringCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	m := s.serving.Current()
	if m == nil {
		return
	}
	mon := s.serving.Monitoring(m)
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(mon.Dropped))
	version := strconv.Itoa(m.Version)
	ch <- prometheus.MustNewConstMetric(holdoutF1Desc, prometheus.GaugeValue, m.Performance.Overall.F1, m.Name, version)
	ch <- prometheus.MustNewConstMetric(windowSizeDesc, prometheus.GaugeValue, float64(mon.Snapshot.Size), m.Name, version)
	for _, r := range mon.Snapshot.Drift {
		ch <- prometheus.MustNewConstMetric(driftStatisticDesc, prometheus.GaugeValue, r.Statistic, m.Name, version, r.Signal)
		if r.PValue != nil {
			ch <- prometheus.MustNewConstMetric(driftPValueDesc, prometheus.GaugeValue, *r.PValue, m.Name, version, r.Signal)
		}
		detected := 0.0
		if r.Drifted {
			detected = 1
		}
		ch <- prometheus.MustNewConstMetric(driftDetectedDesc, prometheus.GaugeValue, detected, m.Name, version, r.Signal)
	}
	last, all, ok := s.cachedLivePerformance(m)
	if !ok {
		return
	}
	for _, w := range []struct {
		name string
		p    model.Performance
	}{{"24h", last}, {"all", all}} {
		ch <- prometheus.MustNewConstMetric(liveF1Desc, prometheus.GaugeValue, w.p.Overall.F1, m.Name, version, w.name)
		ch <- prometheus.MustNewConstMetric(feedbackLabelsDesc, prometheus.GaugeValue, float64(w.p.Overall.NumSamples), m.Name, version, w.name)
	}
}

// cachedLivePerformance is livePerformance of m, read at most every
// liveCacheTTL; false when the database did not answer in time.
func (s *Server) cachedLivePerformance(m *serving.Version) (last, all model.Performance, ok bool) {
	c := &s.liveCache
	c.mu.Lock()
	defer c.mu.Unlock()
	key := fmt.Sprintf("%s/%d/%s", m.Name, m.Version, m.Checksum)
	now := time.Now()
	if c.key == key && now.Sub(c.at) < liveCacheTTL {
		return c.last, c.all, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	last, all, err := s.livePerformance(ctx, m, now)
	if err != nil {
		return model.Performance{}, model.Performance{}, false
	}
	c.key, c.at, c.last, c.all = key, now, last, all
	return last, all, true
}

// feedbackF1 is the LiveF1Func of the feedback in the registry's
// database: the weighted F1 of the feedback on predictions of model's
// version made since since; false without feedback, or when the database
// does not answer within a second.
func (s *Server) feedbackF1(model string, version int, since time.Time) (float64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rv, err := s.store.Version(ctx, model, version)
	if err != nil {
		return 0, false
	}
	perf, err := serving.LivePerformance(ctx, s.store, model, version, rv.Classes, since)
	if err != nil || perf.Overall.NumSamples == 0 {
		return 0, false
	}
	return perf.Overall.F1, true
}
