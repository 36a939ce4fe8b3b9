package monitor

import (
	"errors"
	"math"
	"slices"
	"sync"
	"time"
)

// Observation is what monitoring records of one prediction.
type Observation struct {
	// Tag is the predicted tag (after the threshold fallback).
	Tag string
	// Confidence is the winning probability; Margin the winning
	// probability minus the runner-up's.
	Confidence, Margin float64
	// Tokens is the number of words of the cleaned text.
	Tokens int
	// OOVRate is the share of the text's n-grams outside the vocabulary.
	OOVRate float64
	// Empty is true when the text had no feature of the vocabulary.
	Empty bool
	// Fallback is true when the threshold turned the tag into "other".
	Fallback bool
}

// Reference is the baseline the window is compared with (model.Baseline
// in the monitor's terms): tag counts and sorted samples of the
// continuous signals.
type Reference struct {
	// Tags and TagCounts are the reference count of each tag, aligned.
	Tags      []string
	TagCounts []int
	// Confidence, Margin, Tokens and OOVRate are samples of each signal.
	Confidence, Margin, Tokens, OOVRate []float64
	// EmptyRate and FallbackRate are the shares of texts with an empty
	// feature vector and of fallback predictions.
	EmptyRate, FallbackRate float64
}

// Config are the settings of a Monitor. The zero value of a field means its
// default.
type Config struct {
	// Capacity is the count window: the most observations kept, the last
	// ones; default 1000.
	Capacity int
	// MaxAge is the time window: observations older than this are left
	// out of snapshots; default 1 hour.
	MaxAge time.Duration
	// Alpha is the significance of the drift tests; default 0.05.
	Alpha float64
	// OOVMargin is how far above the reference mean the window's mean OOV
	// rate may rise before it counts as drift; default 0.1.
	OOVMargin float64
	// MinSamples is the fewest observations a window needs for a test to
	// flag drift; default 50.
	MinSamples int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Capacity <= 0 {
		c.Capacity = 1000
	}
	if c.MaxAge <= 0 {
		c.MaxAge = time.Hour
	}
	if c.Alpha <= 0 {
		c.Alpha = defaultAlpha
	}
	if c.OOVMargin <= 0 {
		c.OOVMargin = 0.1
	}
	if c.MinSamples <= 0 {
		c.MinSamples = 50
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// MaxCapacity bounds Config.Capacity, and so a Monitor's memory (about 40
// bytes per observation).
const MaxCapacity = 1 << 20

// record is an observation in the ring: fixed size, no pointers.
type record struct {
	at                          int64 // Unix nanoseconds
	confidence, margin, oovRate float64
	tokens                      int32
	tag                         uint16 // index into Monitor.tags; len(tags) for an unknown tag
	empty, fallback             bool
}

// Monitor keeps the last observations of one model version in a ring
// buffer of fixed capacity and tests them against a reference. Observe and
// Snapshot are safe for concurrent use.
type Monitor struct {
	cfg      Config
	ref      *Reference
	tags     []string
	tagIndex map[string]uint16

	mu    sync.Mutex
	ring  []record
	next  int    // where the next record goes
	size  int    // records in the ring
	total uint64 // records ever observed
}

// New returns a monitor of predictions whose tags are tags (any other tag
// is counted as unknown), compared with ref; ref may be nil, for a model
// without baseline: snapshots then have summaries but no tests.
func New(tags []string, ref *Reference, cfg Config) (*Monitor, error) {
	cfg = cfg.withDefaults()
	switch {
	case cfg.Capacity > MaxCapacity:
		return nil, errors.New("monitor: capacity above MaxCapacity")
	case len(tags) == 0 || len(tags) >= math.MaxUint16:
		return nil, errors.New("monitor: need 1 to 65534 tags")
	case !(cfg.Alpha < 1):
		return nil, errors.New("monitor: alpha must be below 1")
	}
	if ref != nil && len(ref.Tags) != len(ref.TagCounts) {
		return nil, errors.New("monitor: reference tags and counts differ in length")
	}
	m := &Monitor{cfg: cfg, ref: ref, tags: slices.Clone(tags), tagIndex: map[string]uint16{}, ring: make([]record, cfg.Capacity)}
	for i, t := range tags {
		if _, dup := m.tagIndex[t]; dup {
			return nil, errors.New("monitor: a tag is repeated")
		}
		m.tagIndex[t] = uint16(i)
	}
	return m, nil
}

// Observe records observations made now. It takes the monitor's lock once
// and does constant work per observation.
func (m *Monitor) Observe(obs ...Observation) {
	at := m.cfg.Now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range obs {
		o := &obs[i]
		tag, ok := m.tagIndex[o.Tag]
		if !ok {
			tag = uint16(len(m.tags))
		}
		m.ring[m.next] = record{
			at: at, confidence: o.Confidence, margin: o.Margin, oovRate: o.OOVRate,
			tokens: int32(min(o.Tokens, math.MaxInt32)), tag: tag, empty: o.Empty, fallback: o.Fallback,
		}
		m.next = (m.next + 1) % len(m.ring)
		m.size = min(m.size+1, len(m.ring))
		m.total++
	}
}

// Summary describes a continuous signal.
type Summary struct {
	Mean, P10, P50, P90 float64
}

func summarize(x []float64) Summary {
	if len(x) == 0 {
		return Summary{}
	}
	s := slices.Clone(x)
	slices.Sort(s)
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	return Summary{Mean: sum / float64(len(s)), P10: quantile(s, 0.1), P50: quantile(s, 0.5), P90: quantile(s, 0.9)}
}

// quantile of sorted s by linear interpolation (numpy's default).
func quantile(s []float64, q float64) float64 {
	h := q * float64(len(s)-1)
	lo := int(h)
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// Signals are the summaries of a sample of predictions.
type Signals struct {
	// Count is the number of predictions.
	Count int
	// TagShares is the share of each tag; unknown tags are under "".
	TagShares map[string]float64
	// Confidence, Margin, Tokens and OOVRate summarise each signal.
	Confidence, Margin, Tokens, OOVRate Summary
	// EmptyRate and FallbackRate are shares of the predictions.
	EmptyRate, FallbackRate float64
}

// Snapshot is the state of a window.
type Snapshot struct {
	// Start and End bound the times of the window's observations (zero
	// when it is empty); Size is their number, Total the observations ever
	// made.
	Start, End time.Time
	Size       int
	Total      uint64
	// Capacity and MaxAge are the window's bounds.
	Capacity int
	MaxAge   time.Duration
	// Window summarises the window; Reference the baseline (nil without).
	Window    Signals
	Reference *Signals
	// Drift holds the tests of the tags, confidence, tokens and OOV rate,
	// in that order; empty without a reference.
	Drift []Result
}

// Drifted reports whether any test flagged drift.
func (s Snapshot) Drifted() bool {
	for _, r := range s.Drift {
		if r.Drifted {
			return true
		}
	}
	return false
}

// Snapshot summarises the observations of the last Capacity that are
// younger than MaxAge and tests them against the reference.
func (m *Monitor) Snapshot() Snapshot {
	return m.SnapshotWindow(m.cfg.Capacity, m.cfg.MaxAge)
}

// SnapshotWindow is Snapshot over a narrower window: the last count
// observations (at most Capacity) younger than maxAge.
func (m *Monitor) SnapshotWindow(count int, maxAge time.Duration) Snapshot {
	count = min(max(count, 0), m.cfg.Capacity)
	cutoff := m.cfg.Now().Add(-maxAge).UnixNano()
	m.mu.Lock()
	recs := make([]record, 0, min(count, m.size))
	for k := 1; k <= m.size && len(recs) < count; k++ {
		r := m.ring[(m.next-k+len(m.ring))%len(m.ring)]
		if r.at < cutoff {
			break // older ones are older still
		}
		recs = append(recs, r)
	}
	total := m.total
	m.mu.Unlock()

	snap := Snapshot{Size: len(recs), Total: total, Capacity: count, MaxAge: maxAge}
	if len(recs) > 0 {
		snap.End, snap.Start = time.Unix(0, recs[0].at).UTC(), time.Unix(0, recs[len(recs)-1].at).UTC()
	}
	counts := make([]float64, len(m.tags)+1)
	conf, margin, tokens, oov := make([]float64, len(recs)), make([]float64, len(recs)), make([]float64, len(recs)), make([]float64, len(recs))
	empty, fallback := 0, 0
	for i, r := range recs {
		counts[r.tag]++
		conf[i], margin[i], tokens[i], oov[i] = r.confidence, r.margin, float64(r.tokens), r.oovRate
		if r.empty {
			empty++
		}
		if r.fallback {
			fallback++
		}
	}
	snap.Window = Signals{
		Count: len(recs), TagShares: m.shares(counts), Confidence: summarize(conf), Margin: summarize(margin),
		Tokens: summarize(tokens), OOVRate: summarize(oov),
	}
	if n := float64(len(recs)); n > 0 {
		snap.Window.EmptyRate, snap.Window.FallbackRate = float64(empty)/n, float64(fallback)/n
	}
	if m.ref == nil {
		return snap
	}
	ref := m.ref
	refCounts := make([]float64, len(m.tags)+1)
	refTotal := 0
	for i, t := range ref.Tags {
		j, ok := m.tagIndex[t]
		if !ok {
			j = uint16(len(m.tags))
		}
		refCounts[j] += float64(ref.TagCounts[i])
		refTotal += ref.TagCounts[i]
	}
	snap.Reference = &Signals{
		Count: refTotal, TagShares: m.shares(refCounts), Confidence: summarize(ref.Confidence), Margin: summarize(ref.Margin),
		Tokens: summarize(ref.Tokens), OOVRate: summarize(ref.OOVRate), EmptyRate: ref.EmptyRate, FallbackRate: ref.FallbackRate,
	}
	enough := len(recs) >= m.cfg.MinSamples
	alpha := m.cfg.Alpha
	pTest := func(signal, test string, stat, p float64, dof, refSize int) Result {
		return Result{
			Signal: signal, Test: test, Statistic: stat, PValue: &p, DegreesOfFreedom: dof, Threshold: alpha,
			WindowSize: len(recs), ReferenceSize: refSize, Enough: enough, Drifted: enough && p < alpha,
		}
	}
	stat, p, dof := ChiSquared(refCounts, counts)
	snap.Drift = append(snap.Drift, pTest("tag", TestChiSquared, stat, p, dof, refTotal))
	d, p := KolmogorovSmirnov(ref.Confidence, conf)
	snap.Drift = append(snap.Drift, pTest("confidence", TestKolmogorovSmirnov, d, p, 0, len(ref.Confidence)))
	d, p = KolmogorovSmirnov(ref.Tokens, tokens)
	snap.Drift = append(snap.Drift, pTest("tokens", TestKolmogorovSmirnov, d, p, 0, len(ref.Tokens)))
	threshold := snap.Reference.OOVRate.Mean + m.cfg.OOVMargin
	snap.Drift = append(snap.Drift, Result{
		Signal: "oov_rate", Test: TestThreshold, Statistic: snap.Window.OOVRate.Mean, Threshold: threshold,
		WindowSize: len(recs), ReferenceSize: len(ref.OOVRate), Enough: enough,
		Drifted: enough && snap.Window.OOVRate.Mean > threshold,
	})
	return snap
}

// shares turns counts by tag index (the last for unknown tags) into
// shares by tag; an unknown share appears only when non-zero.
func (m *Monitor) shares(counts []float64) map[string]float64 {
	total := 0.0
	for _, c := range counts {
		total += c
	}
	out := make(map[string]float64, len(counts))
	for i, t := range m.tags {
		out[t] = 0
		if total > 0 {
			out[t] = counts[i] / total
		}
	}
	if u := counts[len(m.tags)]; u > 0 {
		out[""] = u / total
	}
	return out
}
