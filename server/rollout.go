package server

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
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagifai/tagifai/registry"
)

// This file applies a model's rollout to the traffic of its serving
// version: which version answers a caller (canary), the copy of requests
// the candidate predicts off the request path (shadow), and the figures of
// both sides. The rollout itself is stored in the registry, so that every
// replica applies the same one; the figures are each replica's own.

// shadowQueueSize bounds the requests waiting for the shadow candidate;
// what does not fit is dropped and counted.
const shadowQueueSize = 1024

// shadowPause is how long the shadow worker rests after it has emptied
// the queue: it then takes the requests queued meanwhile in one go, with
// the candidate's weights still in the CPU's caches, instead of being woken
// for each request. At 100,000 requests a second the queue holds 10 ms.
const shadowPause = 2 * time.Millisecond

// shadowCPUShare bounds the shadow candidate's work to this share of the
// server's CPUs (GOMAXPROCS): after each round of work the worker rests in
// proportion, so that shadowing costs the requests at most about this
// much throughput when the server is busy; what arrives meanwhile beyond
// the queue's room is dropped and counted.
const shadowCPUShare = 0.10

// rolloutRun is one rollout as this replica runs it, from its start to its
// end: the candidate, the shadow queue and its worker, and the figures.
// Changes of mode or percent keep the run (and its figures).
type rolloutRun struct {
	model     string
	candidate *Serving
	started   time.Time // the stored rollout's start, which identifies it
	since     time.Time // when this replica began counting
	serving   *sideStats
	cand      *sideStats
	shadow    shadowStats
	queue     chan shadowJob
	stop      context.CancelFunc
	done      chan struct{}
	// guardFired is set once the guard has asked for the abort.
	guardFired atomic.Bool
	// The run's Prometheus series, looked up once.
	servingRequests, canaryRequests, shadowRequests prometheus.Counter
	shadowDropped, shadowCompared, shadowAgreed     prometheus.Counter
	shadowAgreement                                 prometheus.Gauge
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

func newSideStats(m *Serving) *sideStats {
	classes := m.Predictor.Classes()
	idx := make(map[string]int, len(classes))
	for i, c := range classes {
		idx[c] = i
	}
	return &sideStats{version: m.Version, classes: classes, classIndex: idx, tags: make([]atomic.Int64, len(classes)+1)}
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

// agreement returns agreed/compared and whether anything was compared.
func (s *shadowStats) agreement() (float64, int64, bool) {
	n := s.compared.Load()
	if n == 0 {
		return 0, 0, false
	}
	return float64(s.agreed.Load()) / float64(n), n, true
}

// newRolloutRun starts running r with candidate beside serving; its shadow
// worker runs until stop is called.
func (s *Server) newRolloutRun(r registry.Rollout, serving, candidate *Serving) *rolloutRun {
	run := &rolloutRun{
		model: r.Model, candidate: candidate, started: r.StartedAt, since: time.Now().UTC(),
		serving: newSideStats(serving), cand: newSideStats(candidate),
		queue: make(chan shadowJob, shadowQueueSize), done: make(chan struct{}),
	}
	run.shadow.init(run.serving.classes, run.cand.classes)
	m := s.metrics
	run.servingRequests = m.rolloutRequests.WithLabelValues(r.Model, strconv.Itoa(serving.Version), "serving")
	run.canaryRequests = m.rolloutRequests.WithLabelValues(r.Model, strconv.Itoa(candidate.Version), "canary")
	run.shadowRequests = m.rolloutRequests.WithLabelValues(r.Model, strconv.Itoa(candidate.Version), "shadow")
	run.shadowDropped = m.rolloutShadowDropped.WithLabelValues(r.Model)
	run.shadowCompared = m.rolloutShadowCompared.WithLabelValues(r.Model)
	run.shadowAgreed = m.rolloutShadowAgreed.WithLabelValues(r.Model)
	run.shadowAgreement = m.rolloutShadowAgreement.WithLabelValues(r.Model)
	ctx, cancel := context.WithCancel(context.Background())
	run.stop = cancel
	go func() {
		defer close(run.done)
		s.shadowWorker(ctx, run)
	}()
	return run
}

// shadowWorker has the candidate predict the queued requests and compares
// its tags with the serving version's, until ctx is done: it empties the
// queue, then rests for shadowPause, or longer so as to keep to
// shadowCPUShare.
func (s *Server) shadowWorker(ctx context.Context, run *rolloutRun) {
	pause := time.NewTimer(shadowPause)
	defer pause.Stop()
	share := min(shadowCPUShare*float64(runtime.GOMAXPROCS(0)), 1)
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-run.queue:
			start := time.Now()
			s.shadowOne(run, job)
			s.shadowDrain(run)
			busy := time.Since(start)
			if rate, _, ok := run.shadow.agreement(); ok {
				run.shadowAgreement.Set(rate)
			}
			s.checkGuard(run)
			pause.Reset(max(shadowPause, time.Duration(float64(busy)*(1/share-1))))
		}
		select {
		case <-ctx.Done():
			return
		case <-pause.C:
		}
	}
}

// shadowDrain has the candidate predict the requests queued now.
func (s *Server) shadowDrain(run *rolloutRun) {
	for {
		select {
		case job := <-run.queue:
			s.shadowOne(run, job)
		default:
			return
		}
	}
}

// shadowOne has the candidate predict one shadowed request and compares.
func (s *Server) shadowOne(run *rolloutRun, job shadowJob) {
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
	run.shadowCompared.Add(float64(len(preds)))
	run.shadowAgreed.Add(float64(agreed))
}

// checkGuard aborts the rollout, once, when its guard's condition holds.
func (s *Server) checkGuard(run *rolloutRun) {
	lr := s.rollout.Load()
	if lr == nil || lr.run != run || lr.cfg.MinAgreement == nil {
		return
	}
	rate, n, ok := run.shadow.agreement()
	if !ok || n < int64(lr.cfg.MinSamples) || rate >= *lr.cfg.MinAgreement {
		return
	}
	if !run.guardFired.CompareAndSwap(false, true) {
		return
	}
	reason := fmt.Sprintf("guard: agreement %.3f < %s after %d compared predictions", rate, strconv.FormatFloat(*lr.cfg.MinAgreement, 'f', -1, 64), n)
	s.goBackground(func(ctx context.Context) {
		ctx = registry.WithActor(ctx, registry.Actor{User: "guard", RequestID: "-"})
		if _, err := s.registry.Store().EndRollout(ctx, run.model, reason, true); err != nil && registry.ErrorCode(err) != registry.ENOTFOUND {
			s.log.Error("the rollout's guard could not abort it", slog.String("model", run.model), slog.String("error", err.Error()))
			run.guardFired.Store(false)
			return
		}
		s.log.Warn("rollout aborted by its guard", slog.String("model", run.model), slog.Int("candidate", run.candidate.Version), slog.String("reason", reason))
		if err := s.syncRollout(ctx); err != nil {
			s.log.Warn("apply the end of the rollout", slog.String("error", err.Error()))
		}
	})
}

// goBackground runs fn in a goroutine counted by Wait, with a context
// that ends with the server's background work (or never, before Start).
func (s *Server) goBackground(fn func(ctx context.Context)) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgStopped {
		return
	}
	ctx := s.bgCtx
	if ctx == nil {
		ctx = context.Background()
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn(ctx)
	}()
}

// bucket places a caller among 10,000 buckets, the same on every replica
// and for every request of the caller; the rollout's model and candidate
// salt it, so that each rollout picks its own callers.
func bucket(model string, candidate int, caller string) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(model)
	_, _ = d.WriteString("\x00")
	_, _ = d.WriteString(strconv.Itoa(candidate))
	_, _ = d.WriteString("\x00")
	_, _ = d.WriteString(caller)
	return d.Sum64() % 10000
}

// route returns the version that answers a request that m, the serving
// version, would answer, and the rollout that applies to it (nil for none):
// during a canary, the candidate for the callers in its share.
func (s *Server) route(ctx context.Context, m *Serving) (*Serving, *liveRollout) {
	lr := s.rollout.Load()
	if lr == nil || m.Name != lr.run.model || m.Version != lr.servingVersion {
		return m, nil
	}
	if lr.cfg.Mode == registry.ModeCanary && lr.threshold > 0 &&
		bucket(lr.run.model, lr.cfg.Candidate, callerFrom(ctx)) < lr.threshold {
		return lr.run.candidate, lr
	}
	return m, lr
}

// observeRollout records what m answered for a request that route gave
// lr, and, in shadow mode, queues a copy for the candidate without
// waiting: a full queue drops it.
func (s *Server) observeRollout(lr *liveRollout, m *Serving, texts, tags []string, took time.Duration) {
	if lr == nil {
		return
	}
	run := lr.run
	side, counter := run.serving, run.servingRequests
	if m == run.candidate {
		side, counter = run.cand, run.canaryRequests
	}
	side.observe(tags, took)
	counter.Inc()
	if lr.cfg.Mode != registry.ModeShadow || lr.threshold == 0 || (lr.threshold < 10000 && rand.Uint64N(10000) >= lr.threshold) {
		return
	}
	run.shadow.sampled.Add(1)
	select {
	case run.queue <- shadowJob{texts: texts, tags: tags}:
		run.shadowRequests.Inc()
	default:
		run.shadow.dropped.Add(1)
		run.shadowDropped.Inc()
	}
}

// syncRollout applies the stored rollout of the server's model: it starts
// running a new one (loading its candidate), changes the settings of the
// running one, or stops it when it ended. It is called after every change
// made through this replica, and when following the database.
func (s *Server) syncRollout(ctx context.Context) error {
	if s.registry == nil {
		return nil
	}
	s.rolloutMu.Lock()
	defer s.rolloutMu.Unlock()
	r, err := s.registry.Store().Rollout(ctx, s.modelName)
	if err != nil && registry.ErrorCode(err) != registry.ENOTFOUND {
		return err
	}
	cur := s.rollout.Load()
	serving := s.serving.Load()
	if !r.Active() || serving == nil || serving.Version == r.Candidate {
		if cur != nil {
			s.endRun(cur)
		}
		return nil
	}
	if cur != nil && cur.run.started.Equal(r.StartedAt) && cur.cfg.Candidate == r.Candidate && cur.servingVersion == serving.Version {
		if cur.cfg.UpdatedAt.Equal(r.UpdatedAt) {
			return nil
		}
		s.rollout.Store(&liveRollout{run: cur.run, cfg: r, servingVersion: serving.Version, threshold: thresholdOf(r.Percent)})
		s.log.Info("rollout changed", slog.String("model", r.Model), slog.String("rollout", r.String()))
		return nil
	}
	candidate, err := s.versionFor(ctx, r.Model, r.Candidate)
	if err != nil {
		return fmt.Errorf("load the candidate of the rollout: %w", err)
	}
	if cur != nil {
		s.endRun(cur)
	}
	run := s.newRolloutRun(r, serving, candidate)
	s.lastRun.Store(run)
	s.rollout.Store(&liveRollout{run: run, cfg: r, servingVersion: serving.Version, threshold: thresholdOf(r.Percent)})
	s.log.Info("rollout started", slog.String("model", r.Model), slog.String("rollout", r.String()), slog.Int("serving", serving.Version))
	return nil
}

// endRun stops applying lr; its figures stay readable (lastRun).
func (s *Server) endRun(lr *liveRollout) {
	s.rollout.Store(nil)
	lr.run.stop()
	s.log.Info("rollout ended on this replica", slog.String("model", lr.run.model), slog.Int("candidate", lr.cfg.Candidate))
}

// stopRollouts stops the shadow worker of the running rollout, if any,
// and waits for it.
func (s *Server) stopRollouts() {
	if lr := s.rollout.Load(); lr != nil {
		s.rollout.Store(nil)
		lr.run.stop()
		<-lr.run.done
	}
}

func thresholdOf(percent float64) uint64 {
	return uint64(math.Round(min(max(percent, 0), 100) * 100))
}

// callerKey is the context key of the caller's identity for canary routing.
type callerKey struct{}

// callerFrom returns who the caller is, for canary routing.
func callerFrom(ctx context.Context) string {
	c, _ := ctx.Value(callerKey{}).(string)
	return c
}

// maxRoutingKey bounds the X-Routing-Key header a caller sends.
const maxRoutingKey = 128
