package serving

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/monitor"
)

// This file keeps the online statistics of each loaded version: a
// monitor.Monitor per version (versionMonitor, made when the version is
// loaded, dropped with it), fed by Report off the request path through a
// recorder.

// monitorConfig is the window and tests of every version's monitor
// (monitor's defaults: the last 1,000 predictions of the last hour,
// significance 0.05, OOV margin 0.1, 50 predictions before a test may
// flag drift).
var monitorConfig = monitor.Config{}

// signalSource is a predictor that tells monitoring about a prediction
// (*model.Classifier is one).
type signalSource interface {
	Signals(p model.Prediction) (confidence, margin float64, fallback bool)
}

// versionMonitor is the online statistics of one loaded version.
type versionMonitor struct {
	mon *monitor.Monitor
	// hasBaseline is false for artifacts made before baselines existed:
	// the monitor then summarises the window but tests nothing.
	hasBaseline bool
	source      signalSource // nil when the predictor cannot tell (a test's fake)
}

// newVersionMonitor returns the monitor of a version whose predictor is p
// and whose artifact's baseline is b (nil when it has none).
func newVersionMonitor(p Predictor, b *model.Baseline) *versionMonitor {
	tags := slices.Clone(p.Classes())
	if !slices.Contains(tags, model.OtherTag) {
		tags = append(tags, model.OtherTag) // the fallback's tag
	}
	vm := &versionMonitor{hasBaseline: b != nil}
	vm.source, _ = p.(signalSource)
	mon, err := monitor.New(tags, referenceOf(b), monitorConfig)
	if err != nil {
		return nil // classes the monitor cannot count (none, or repeated): no monitoring
	}
	vm.mon = mon
	return vm
}

// referenceOf turns an artifact's baseline into the monitor's reference;
// nil for nil.
func referenceOf(b *model.Baseline) *monitor.Reference {
	if b == nil {
		return nil
	}
	ref := &monitor.Reference{
		Confidence: b.Confidence, Margin: b.Margin, Tokens: b.Tokens, OOVRate: b.OOVRate,
		EmptyRate: b.EmptyRate(), FallbackRate: b.FallbackRate(),
	}
	tags := make([]string, 0, len(b.TagCounts))
	for t := range b.TagCounts {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	for _, t := range tags {
		ref.Tags = append(ref.Tags, t)
		ref.TagCounts = append(ref.TagCounts, b.TagCounts[t])
	}
	return ref
}

// observe records preds. The counts of each text (tokens, n-grams, known
// n-grams, features) come with its prediction, from the loop that built
// its features.
func (vm *versionMonitor) observe(preds []model.Prediction) {
	obs := make([]monitor.Observation, len(preds))
	for i, p := range preds {
		o := monitor.Observation{Tag: p.Tag, Tokens: p.Tokens, OOVRate: p.OOVRate(), Empty: p.Empty()}
		if vm.source != nil {
			o.Confidence, o.Margin, o.Fallback = vm.source.Signals(p)
		} else {
			for _, v := range p.Probabilities {
				o.Confidence = max(o.Confidence, v)
			}
		}
		obs[i] = o
	}
	vm.mon.Observe(obs...)
}

// Bounds of the recorder's queue: requests, and predictions in them,
// waiting to be observed.
const (
	recorderQueue = 4096
	recorderPreds = 65536
)

// recorder hands predictions to their version's monitor off the request
// path: record never waits; when the queue is full it drops the
// predictions and counts them.
type recorder struct {
	// budget is the CPU time observing may take per recorderPeriod.
	budget  time.Duration
	queue   chan recorded
	pending atomic.Int64 // predictions in the queue
	dropped atomic.Uint64
}

type recorded struct {
	vm    *versionMonitor
	preds []model.Prediction
}

// newRecorder returns a recorder that may take cpu (a share of one core)
// to observe.
func newRecorder(cpu float64) *recorder {
	return &recorder{budget: time.Duration(cpu * float64(recorderPeriod)), queue: make(chan recorded, recorderQueue)}
}

// record queues preds for vm; the caller must not change them afterwards.
func (r *recorder) record(vm *versionMonitor, preds []model.Prediction) {
	if vm == nil || vm.mon == nil {
		return
	}
	n := int64(len(preds))
	if r.pending.Add(n) > recorderPreds {
		r.pending.Add(-n)
		r.dropped.Add(uint64(n))
		return
	}
	select {
	case r.queue <- recorded{vm: vm, preds: preds}:
	default:
		r.pending.Add(-n)
		r.dropped.Add(uint64(n))
	}
}

// DefaultMonitoringCPU is the share of one core that observing
// predictions may take by default (Config.MonitoringCPU), over each
// recorderPeriod: beyond, what is queued until the period ends is dropped
// (and counted) rather than observed, so that monitoring never takes more
// than this from serving, whatever the traffic.
const DefaultMonitoringCPU = 0.05

// recorderPeriod is the period over which the recorder's CPU is counted.
const recorderPeriod = 10 * time.Second

// recorderTick is how often run drains the queue: in batches, so that a
// request never wakes it (waking a goroutine per request costs more than
// observing).
const recorderTick = 20 * time.Millisecond

// run observes what record queues until ctx is done, within its budget.
func (r *recorder) run(ctx context.Context) {
	t := time.NewTicker(recorderTick)
	defer t.Stop()
	var windowStart time.Time
	var busy time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if now.Sub(windowStart) >= recorderPeriod {
				windowStart, busy = now, 0
			}
			busy += r.drain(r.budget - busy)
		}
	}
}

// drain observes what is queued now, for up to budget, drops the rest,
// and returns the time it spent observing.
func (r *recorder) drain(budget time.Duration) time.Duration {
	start := time.Now()
	var spent time.Duration
	for {
		select {
		case rec := <-r.queue:
			if spent < budget {
				rec.vm.observe(rec.preds)
				spent = time.Since(start)
			} else {
				r.dropped.Add(uint64(len(rec.preds)))
			}
			r.pending.Add(-int64(len(rec.preds)))
		default:
			return spent
		}
	}
}

// Monitoring is what monitoring knows of a version now.
type Monitoring struct {
	// HasBaseline is false for a version whose artifact has no baseline:
	// Snapshot then has summaries but no drift tests.
	HasBaseline bool
	// Snapshot is the version's window of this replica's predictions.
	Snapshot monitor.Snapshot
	// Dropped counts the predictions of every version left out of
	// monitoring because it could not keep up (or was off).
	Dropped uint64
}

// Monitoring reports on v's online statistics.
func (m *Manager) Monitoring(v *Version) Monitoring {
	var out Monitoring
	if m.recorder != nil {
		out.Dropped = m.recorder.dropped.Load()
	}
	if v.monitor != nil {
		out.HasBaseline = v.monitor.hasBaseline
		out.Snapshot = v.monitor.mon.Snapshot()
	}
	return out
}

// maxMonitors is how many versions' monitors a manager keeps.
const maxMonitors = 16

// monitorSet keeps the monitor of each version loaded, so that loading a
// version again (deployed again, rolled back to, named by a request after
// it left the cache) goes on with the window it had: a deployment must not
// wipe the evidence of drift that may have prompted it. A version is the
// same only with the same bytes (checksum); the least recently loaded of
// more than maxMonitors is forgotten.
type monitorSet struct {
	mu   sync.Mutex
	tick uint64
	byID map[monitorID]*keptMonitor
}

type monitorID struct {
	name     string
	version  int
	checksum string
}

type keptMonitor struct {
	vm   *versionMonitor
	used uint64
}

// keep returns the monitor v must use: the one kept for its version and
// bytes, else v's own, kept from now on.
func (s *monitorSet) keep(v *Version) *versionMonitor {
	if v.monitor == nil {
		return nil // no monitoring for this version's classes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick++
	id := monitorID{v.Name, v.Version, v.Checksum}
	if k, ok := s.byID[id]; ok {
		k.used = s.tick
		return k.vm
	}
	if s.byID == nil {
		s.byID = make(map[monitorID]*keptMonitor)
	}
	if len(s.byID) >= maxMonitors {
		var oldest monitorID
		var least uint64 = math.MaxUint64
		for id, k := range s.byID {
			if k.used < least {
				oldest, least = id, k.used
			}
		}
		delete(s.byID, oldest)
	}
	s.byID[id] = &keptMonitor{vm: v.monitor, used: s.tick}
	return v.monitor
}
