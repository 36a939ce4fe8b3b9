package serving

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/tagifai/tagifai/feedback"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// This file applies a model's rollout to the traffic of its serving
// version: which version answers a caller (canary), the copy of requests
// the candidate predicts off the request path (shadow), and the figures of
// both sides. The rollout itself is stored in the registry, so that every
// replica applies the same one; the figures are each replica's own.

// RolloutStore is what rollouts need of the registry's database;
// *registry.SQLStore is one. A Store without it runs no rollouts.
type RolloutStore interface {
	Rollout(ctx context.Context, model string) (registry.Rollout, error)
	EndRollout(ctx context.Context, model, reason string, guard bool) (registry.Rollout, error)
}

// RolloutObserver hears what rollouts do, for metrics; an Observer that
// is one is told.
type RolloutObserver interface {
	// RolloutRequest is told of each request seen during a rollout, by the
	// version and its role: "serving", "canary" or "shadow".
	RolloutRequest(model string, version int, role string)
	// ShadowCompared is told of the predictions a shadow candidate
	// compared, how many agreed, and the agreement rate so far.
	ShadowCompared(model string, compared, agreed int, rate float64)
	// ShadowDropped is told of each request the shadow queue had no room
	// for.
	ShadowDropped(model string)
}

// ShadowQueueSize bounds the requests waiting for the shadow candidate;
// what does not fit is dropped and counted.
const ShadowQueueSize = 1024

// shadowPause is how long the shadow worker rests after it has emptied
// the queue: it then takes the requests queued meanwhile in one go, with
// the candidate's weights still in the CPU's caches, instead of being woken
// for each request. At 100,000 requests a second the queue holds 10 ms.
const shadowPause = 2 * time.Millisecond

// ShadowCPUShare bounds the shadow candidate's work to this share of the
// server's CPUs (GOMAXPROCS): after each round of work the worker rests in
// proportion, so that shadowing costs the requests at most about this
// much throughput when the server is busy; what arrives meanwhile beyond
// the queue's room is dropped and counted.
const ShadowCPUShare = 0.10

// rolloutRun is one rollout as this replica runs it, from its start to its
// end: the candidate, the shadow queue, and the figures. Changes of mode or
// percent keep the run (and its figures).
type rolloutRun struct {
	model     string
	candidate *Version
	started   time.Time // the stored rollout's start, which identifies it
	since     time.Time // when this replica began counting
	serving   *sideStats
	cand      *sideStats
	shadow    shadowStats
	queue     chan shadowJob
	ended     atomic.Bool
	// guardFired is set once the guard has asked for the abort.
	guardFired atomic.Bool
}

// liveRollout is a run with the settings it currently has.
type liveRollout struct {
	run            *rolloutRun
	cfg            registry.Rollout
	servingVersion int
	// threshold is percent in hundredths: a caller whose bucket (0 to
	// 9,999) is below it gets the candidate (canary); a request whose draw
	// is below it is shadowed (shadow).
	threshold uint64
}

// shadowJob is a request the candidate predicts again: its texts and the
// tags the serving version gave them.
type shadowJob struct {
	texts []string
	tags  []string
}

// sideStats counts what one side of a rollout did, without locks.
type sideStats struct {
	version     int
	classes     []string
	classIndex  map[string]int
	requests    atomic.Int64
	predictions atomic.Int64
	tags        []atomic.Int64 // by classIndex; the last counts unknown tags
	latency     latencyHistogram
}

func newSideStats(v *Version) *sideStats {
	classes := v.Predictor.Classes()
	idx := make(map[string]int, len(classes))
	for i, c := range classes {
		idx[c] = i
	}
	return &sideStats{version: v.Version, classes: classes, classIndex: idx, tags: make([]atomic.Int64, len(classes)+1)}
}

func (s *sideStats) observe(tags []string, took time.Duration) {
	s.requests.Add(1)
	s.predictions.Add(int64(len(tags)))
	for _, t := range tags {
		i, ok := s.classIndex[t]
		if !ok {
			i = len(s.classes)
		}
		s.tags[i].Add(1)
	}
	s.latency.observe(took)
}

// latencyHistogram counts durations in buckets whose upper bounds are
// 1 µs × 2^i, which bounds the error of a percentile to a factor of two.
type latencyHistogram struct {
	buckets [40]atomic.Int64
	count   atomic.Int64
	sum     atomic.Int64 // nanoseconds
}

func (h *latencyHistogram) observe(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	i := 0
	if us > 1 {
		i = bits.Len64(us - 1) // the least i with 2^i >= us
	}
	h.buckets[min(i, len(h.buckets)-1)].Add(1)
	h.count.Add(1)
	h.sum.Add(int64(d))
}

// quantileMS returns the upper bound, in milliseconds, of the bucket that
// holds the q-quantile; 0 when nothing was observed.
func (h *latencyHistogram) quantileMS(q float64) float64 {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return float64(uint64(1)<<i) / 1000
		}
	}
	return float64(uint64(1)<<(len(h.buckets)-1)) / 1000
}

func (h *latencyHistogram) meanMS() float64 {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n) / 1e6
}

// shadowStats compares the candidate with the serving version.
type shadowStats struct {
	sampled  atomic.Int64
	dropped  atomic.Int64
	compared atomic.Int64
	agreed   atomic.Int64
	// labels are the tags of both sides, the serving version's first;
	// confusion[i*len(labels)+j] counts serving labels[i], candidate
	// labels[j].
	labels     []string
	labelIndex map[string]int
	confusion  []atomic.Int64
}

func (s *shadowStats) init(serving, candidate []string) {
	s.labelIndex = map[string]int{}
	for _, l := range append(append([]string{}, serving...), candidate...) {
		if _, ok := s.labelIndex[l]; !ok {
			s.labelIndex[l] = len(s.labels)
			s.labels = append(s.labels, l)
		}
	}
	s.confusion = make([]atomic.Int64, len(s.labels)*len(s.labels))
}

// agreement returns agreed/compared, how many were compared, and whether
// any were.
func (s *shadowStats) agreement() (float64, int64, bool) {
	n := s.compared.Load()
	if n == 0 {
		return 0, 0, false
	}
	return float64(s.agreed.Load()) / float64(n), n, true
}

type callerKey struct{}

// WithCaller returns ctx naming the caller of a request, by which a canary
// splits traffic: the same caller always gets the same version.
func WithCaller(ctx context.Context, caller string) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

func callerFrom(ctx context.Context) string {
	c, _ := ctx.Value(callerKey{}).(string)
	return c
}

// bucket places a caller among 10,000 buckets, the same on every replica
// and for every request of the caller; the rollout's model and candidate
// salt it, so that each rollout picks its own callers.
func bucket(model string, candidate int, caller string) uint64 {
	d := xxhash.New()
	_, _ = d.WriteString(model)
	_, _ = d.WriteString("\x00")
	_, _ = d.WriteString(strconv.Itoa(candidate))
	_, _ = d.WriteString("\x00")
	_, _ = d.WriteString(caller)
	return d.Sum64() % 10000
}

func thresholdOf(percent float64) uint64 {
	return uint64(math.Round(min(max(percent, 0), 100) * 100))
}

// route returns the version that answers a request that v, the serving
// version, would answer: during a canary, the candidate for the callers
// in its share.
func (m *Manager) route(ctx context.Context, v *Version) *Version {
	lr := m.rollout.Load()
	if lr == nil || v.Name != lr.run.model || v.Version != lr.servingVersion {
		return v
	}
	if lr.cfg.Mode == registry.ModeCanary && lr.threshold > 0 &&
		bucket(lr.run.model, lr.cfg.Candidate, callerFrom(ctx)) < lr.threshold {
		return lr.run.candidate
	}
	return v
}

// ReportRouted tells serving what v, a version Route chose, answered to
// one request: the texts, the tags and how long predicting took. During a
// rollout it counts them for their side and, in shadow mode, queues a copy
// for the candidate without waiting: a full queue drops it.
func (m *Manager) ReportRouted(v *Version, texts, tags []string, took time.Duration) {
	lr := m.rollout.Load()
	if lr == nil {
		return
	}
	run := lr.run
	side, role := run.serving, "serving"
	switch {
	case v == run.candidate:
		side, role = run.cand, "canary"
	case v.Name != run.model || v.Version != lr.servingVersion:
		return
	}
	side.observe(tags, took)
	m.robs.RolloutRequest(run.model, v.Version, role)
	if lr.cfg.Mode != registry.ModeShadow || role != "serving" || lr.threshold == 0 ||
		(lr.threshold < 10000 && rand.Uint64N(10000) >= lr.threshold) {
		return
	}
	run.shadow.sampled.Add(1)
	select {
	case run.queue <- shadowJob{texts: texts, tags: tags}:
		m.robs.RolloutRequest(run.model, run.candidate.Version, "shadow")
	default:
		run.shadow.dropped.Add(1)
		m.robs.ShadowDropped(run.model)
	}
}

// SyncRollout applies the stored rollout of the model: it starts running
// a new one (loading its candidate), changes the settings of the running
// one, or stops it when it ended. Changes made through this replica call
// it; Run calls it when following the database.
func (m *Manager) SyncRollout(ctx context.Context) error {
	rs, ok := m.store.(RolloutStore)
	if !ok {
		return nil
	}
	m.rolloutMu.Lock()
	defer m.rolloutMu.Unlock()
	r, err := rs.Rollout(ctx, m.cfg.Model)
	if err != nil && registry.ErrorCode(err) != registry.ENOTFOUND {
		return err
	}
	cur := m.rollout.Load()
	serving := m.serving.Load()
	if !r.Active() || serving == nil || serving.Version == r.Candidate {
		if cur != nil {
			m.endRun(cur)
		}
		return nil
	}
	if cur != nil && cur.run.started.Equal(r.StartedAt) && cur.cfg.Candidate == r.Candidate && cur.servingVersion == serving.Version {
		if cur.cfg.UpdatedAt.Equal(r.UpdatedAt) {
			return nil
		}
		m.rollout.Store(&liveRollout{run: cur.run, cfg: r, servingVersion: serving.Version, threshold: thresholdOf(r.Percent)})
		m.log.Info("rollout changed", slog.String("model", r.Model), slog.String("rollout", r.String()))
		return nil
	}
	candidate, err := m.Named(ctx, r.Model, r.Candidate)
	if err != nil {
		return fmt.Errorf("serving: load the candidate of the rollout: %w", err)
	}
	if cur != nil {
		m.endRun(cur)
	}
	run := &rolloutRun{
		model: r.Model, candidate: candidate, started: r.StartedAt, since: time.Now().UTC(),
		serving: newSideStats(serving), cand: newSideStats(candidate), queue: make(chan shadowJob, ShadowQueueSize),
	}
	run.shadow.init(run.serving.classes, run.cand.classes)
	m.lastRun.Store(run)
	m.rollout.Store(&liveRollout{run: run, cfg: r, servingVersion: serving.Version, threshold: thresholdOf(r.Percent)})
	m.handRun(run)
	m.log.Info("rollout started", slog.String("model", r.Model), slog.String("rollout", r.String()), slog.Int("serving", serving.Version))
	return nil
}

// endRun stops applying lr; its figures stay readable (lastRun).
func (m *Manager) endRun(lr *liveRollout) {
	m.rollout.Store(nil)
	lr.run.ended.Store(true)
	m.handRun(nil)
	m.log.Info("rollout ended on this replica", slog.String("model", lr.run.model), slog.Int("candidate", lr.cfg.Candidate))
}

// handRun hands run (nil for none) to Run's shadow worker, replacing any
// run still waiting.
func (m *Manager) handRun(run *rolloutRun) {
	for {
		select {
		case m.runs <- run:
			return
		default:
		}
		select {
		case <-m.runs:
		default:
		}
	}
}

// runShadow has the candidate of the running shadow rollout predict the
// queued requests and compares its tags with the serving version's, until
// ctx is done: it empties the queue, then rests for shadowPause, or longer
// so as to keep to ShadowCPUShare.
func (m *Manager) runShadow(ctx context.Context) {
	share := min(ShadowCPUShare*float64(runtime.GOMAXPROCS(0)), 1)
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	var run *rolloutRun
	var queue chan shadowJob
	for {
		select {
		case <-ctx.Done():
			return
		case run = <-m.runs:
			queue = nil
			if run != nil {
				queue = run.queue
			}
			continue
		case job := <-queue:
			start := time.Now()
			m.shadowOne(run, job)
		drain:
			for {
				select {
				case job := <-queue:
					m.shadowOne(run, job)
				default:
					break drain
				}
			}
			busy := time.Since(start)
			if rate, _, ok := run.shadow.agreement(); ok {
				m.robs.ShadowCompared(run.model, 0, 0, rate)
			}
			m.checkGuard(ctx, run)
			pause.Reset(max(shadowPause, time.Duration(float64(busy)*(1/share-1))))
		}
		select {
		case <-ctx.Done():
			pause.Stop()
			return
		case <-pause.C:
		}
	}
}

// shadowOne has the candidate predict one shadowed request and compares.
func (m *Manager) shadowOne(run *rolloutRun, job shadowJob) {
	start := time.Now()
	preds := run.candidate.Predictor.PredictBatch(job.texts)
	took := time.Since(start)
	tags := make([]string, len(preds))
	agreed := 0
	n := len(run.shadow.labels)
	for i, p := range preds {
		tags[i] = p.Tag
		if p.Tag == job.tags[i] {
			agreed++
		}
		si, sok := run.shadow.labelIndex[job.tags[i]]
		ci, cok := run.shadow.labelIndex[p.Tag]
		if sok && cok {
			run.shadow.confusion[si*n+ci].Add(1)
		}
	}
	run.cand.observe(tags, took)
	run.shadow.agreed.Add(int64(agreed))
	run.shadow.compared.Add(int64(len(preds)))
	rate, _, _ := run.shadow.agreement()
	m.robs.ShadowCompared(run.model, len(preds), agreed, rate)
}

// checkGuard aborts a shadow rollout, once, when its candidate's agreement
// with the serving version has fallen below the guard's least.
func (m *Manager) checkGuard(ctx context.Context, run *rolloutRun) {
	lr := m.rollout.Load()
	if lr == nil || lr.run != run || lr.cfg.MinAgreement == nil {
		return
	}
	rate, n, ok := run.shadow.agreement()
	if !ok || n < int64(lr.cfg.MinSamples) || rate >= *lr.cfg.MinAgreement {
		return
	}
	m.guardAbort(ctx, run, fmt.Sprintf("guard: agreement %.3f < %s after %d compared predictions", rate, strconv.FormatFloat(*lr.cfg.MinAgreement, 'f', -1, 64), n))
}

// FeedbackCounter counts the feedback on a version's predictions (a
// canary guard's live F1); *registry.SQLStore is one. A Store without it
// runs no live-F1 guard.
type FeedbackCounter interface {
	FeedbackCounts(ctx context.Context, model string, version int, since time.Time) ([]registry.FeedbackCount, error)
}

// LivePerformance scores the predictions of version of model name made
// at or after since from the feedback on them (feedback.Score over
// classes): by class and overall, Overall.NumSamples being how many labels
// came back.
func LivePerformance(ctx context.Context, fc FeedbackCounter, name string, version int, classes []string, since time.Time) (model.Performance, error) {
	counts, err := fc.FeedbackCounts(ctx, name, version, since)
	if err != nil {
		return model.Performance{}, err
	}
	fb := make([]feedback.Count, len(counts))
	for i, c := range counts {
		fb[i] = feedback.Count{Predicted: c.PredictedTag, True: c.Tag, N: c.N}
	}
	return feedback.Score(classes, fb), nil
}

// DefaultGuardInterval is how often a canary's guard reads the feedback on
// its candidate's answers.
const DefaultGuardInterval = 5 * time.Second

// runCanaryGuard judges the running canary's live F1 every interval until
// ctx is done.
func (m *Manager) runCanaryGuard(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.CheckCanaryGuard(ctx)
		}
	}
}

// CheckCanaryGuard aborts the running canary, once, when its candidate's
// live F1 (over every replica's feedback on the predictions it made since
// the rollout started) has fallen below the guard's least once enough
// labels came back. Run calls it every GuardInterval.
func (m *Manager) CheckCanaryGuard(ctx context.Context) {
	lr := m.rollout.Load()
	fc, ok := m.store.(FeedbackCounter)
	if lr == nil || !ok || lr.cfg.Mode != registry.ModeCanary || lr.cfg.MinLiveF1 == nil || lr.run.guardFired.Load() {
		return
	}
	perf, err := LivePerformance(ctx, fc, lr.run.model, lr.run.candidate.Version, lr.run.candidate.Predictor.Classes(), lr.run.started)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("the canary's guard could not read the feedback", slog.String("model", lr.run.model), slog.String("error", err.Error()))
		}
		return
	}
	labels, f1 := perf.Overall.NumSamples, perf.Overall.F1
	if labels < lr.cfg.MinLabels || f1 >= *lr.cfg.MinLiveF1 {
		return
	}
	m.guardAbort(ctx, lr.run, fmt.Sprintf("guard: live F1 %.3f < %s after %d labels", f1, strconv.FormatFloat(*lr.cfg.MinLiveF1, 'f', -1, 64), labels))
}

// guardAbort ends run's rollout for its guard, once, saying why.
func (m *Manager) guardAbort(ctx context.Context, run *rolloutRun, reason string) {
	if !run.guardFired.CompareAndSwap(false, true) {
		return
	}
	rs, ok := m.store.(RolloutStore)
	if !ok {
		return
	}
	actx := registry.WithActor(ctx, registry.Actor{User: registry.ActorGuard, RequestID: "-"})
	if _, err := rs.EndRollout(actx, run.model, reason, true); err != nil && registry.ErrorCode(err) != registry.ENOTFOUND {
		m.log.Error("the rollout's guard could not abort it", slog.String("model", run.model), slog.String("error", err.Error()))
		run.guardFired.Store(false)
		return
	}
	m.log.Warn("rollout aborted by its guard", slog.String("model", run.model), slog.Int("candidate", run.candidate.Version), slog.String("reason", reason))
	if err := m.SyncRollout(ctx); err != nil {
		m.log.Warn("apply the end of the rollout", slog.String("error", err.Error()))
	}
}

// RolloutStats is what this replica saw of a rollout.
type RolloutStats struct {
	// Since is when this replica began counting.
	Since              time.Time
	Serving, Candidate SideStats
	// Shadow is nil for a rollout that never shadowed here.
	Shadow *ShadowStats
}

// SideStats is what one side of a rollout did.
type SideStats struct {
	Version              int
	Requests             int64
	Predictions          int64
	Tags                 map[string]int64
	MeanMS, P50MS, P95MS float64
	P99MS                float64
}

// ShadowStats compares a shadow candidate with the serving version.
type ShadowStats struct {
	Sampled, Dropped, Compared, Agreed int64
	QueueCapacity                      int
	// AgreementRate is Agreed/Compared; nil before the first comparison.
	AgreementRate *float64
	// Matrix[i][j] counts the texts the serving version tagged Labels[i]
	// and the candidate Labels[j].
	Labels []string
	Matrix [][]int64
}

// RolloutStats returns this replica's figures of r, or nil when it has
// none (it did not run r, or ran another one since).
func (m *Manager) RolloutStats(r registry.Rollout) *RolloutStats {
	run := m.lastRun.Load()
	if run == nil || run.model != r.Model || !run.started.Equal(r.StartedAt) || run.candidate.Version != r.Candidate {
		return nil
	}
	// The shadow's counts are read first: a comparison is counted after
	// the candidate's side and the confusion matrix hear of it, so what is
	// read after them includes at least every comparison they count.
	var view *ShadowStats
	sh := &run.shadow
	if r.Mode == registry.ModeShadow || sh.sampled.Load() > 0 {
		view = &ShadowStats{Compared: sh.compared.Load(), Agreed: sh.agreed.Load(), Sampled: sh.sampled.Load(), Dropped: sh.dropped.Load(),
			QueueCapacity: cap(run.queue), Labels: sh.labels}
		// Agreements are counted just before their comparisons: one read
		// between the two waits for the next read.
		view.Agreed = min(view.Agreed, view.Compared)
		if view.Compared > 0 {
			rate := float64(view.Agreed) / float64(view.Compared)
			view.AgreementRate = &rate
		}
		n := len(sh.labels)
		view.Matrix = make([][]int64, n)
		for i := range view.Matrix {
			view.Matrix[i] = make([]int64, n)
			for j := range view.Matrix[i] {
				view.Matrix[i][j] = sh.confusion[i*n+j].Load()
			}
		}
	}
	return &RolloutStats{Since: run.since, Serving: run.serving.view(), Candidate: run.cand.view(), Shadow: view}
}

func (s *sideStats) view() SideStats {
	tags := make(map[string]int64, len(s.classes))
	for i, c := range s.classes {
		if n := s.tags[i].Load(); n > 0 {
			tags[c] = n
		}
	}
	if n := s.tags[len(s.classes)].Load(); n > 0 {
		tags["(unknown)"] = n
	}
	return SideStats{
		Version: s.version, Requests: s.requests.Load(), Predictions: s.predictions.Load(), Tags: tags,
		MeanMS: s.latency.meanMS(), P50MS: s.latency.quantileMS(0.5), P95MS: s.latency.quantileMS(0.95), P99MS: s.latency.quantileMS(0.99),
	}
}

// RolloutRunning reports whether this replica applies a rollout now.
func (m *Manager) RolloutRunning() bool { return m.rollout.Load() != nil }

type nopRolloutObserver struct{}

func (nopRolloutObserver) RolloutRequest(string, int, string)       {}
func (nopRolloutObserver) ShadowCompared(string, int, int, float64) {}
func (nopRolloutObserver) ShadowDropped(string)                     {}
