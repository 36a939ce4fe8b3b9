package monitor_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/monitor"
)

// referenceOf is how a server turns an artifact's baseline into the
// monitor's reference.
func referenceOf(b *model.Baseline) *monitor.Reference {
	ref := &monitor.Reference{
		Confidence: b.Confidence, Margin: b.Margin, Tokens: b.Tokens, OOVRate: b.OOVRate,
		EmptyRate: b.EmptyRate(), FallbackRate: b.FallbackRate(),
	}
	for tag, n := range b.TagCounts {
		ref.Tags = append(ref.Tags, tag)
		ref.TagCounts = append(ref.TagCounts, n)
	}
	return ref
}

// observe predicts texts with c and records them as a server would.
func observe(m *monitor.Monitor, c *model.Classifier, texts []string) {
	preds := c.PredictBatch(texts)
	obs := make([]monitor.Observation, len(texts))
	for i, p := range preds {
		conf, margin, fallback := c.Signals(p)
		st := c.TextStats(texts[i])
		obs[i] = monitor.Observation{
			Tag: p.Tag, Confidence: conf, Margin: margin, Tokens: st.Tokens, OOVRate: st.OOVRate(),
			Empty: st.Features == 0, Fallback: fallback,
		}
	}
	m.Observe(obs...)
}

// TestModelBaselineToMonitor: a classifier's baseline of some texts, fed
// those texts again, shows no drift; fed texts of one class only, its tag
// distribution drifts.
func TestModelBaselineToMonitor(t *testing.T) {
	t.Parallel()
	examples, err := model.ReadCSV("../model/testdata/train.csv")
	require.NoError(t, err)
	args := model.DefaultArgs()
	args.MinFreq, args.NumEpochs = 5, 10
	res, err := model.Train(context.Background(), examples, args, 1, nil)
	require.NoError(t, err)
	c := res.Classifier
	texts := model.Texts(examples)
	baseline := model.NewBaseline(c, texts, "training")
	require.NotNil(t, baseline)
	tags := slices.Clone(c.Classes())
	if !slices.Contains(tags, model.OtherTag) {
		tags = append(tags, model.OtherTag) // the fallback's tag
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	cfg := monitor.Config{MinSamples: 30, Now: func() time.Time { return now }}

	same, err := monitor.New(tags, referenceOf(baseline), cfg)
	require.NoError(t, err)
	observe(same, c, texts)
	snap := same.Snapshot()
	require.Len(t, snap.Drift, 4)
	assert.False(t, snap.Drifted(), "%+v", snap.Drift)
	assert.InDelta(t, baseline.EmptyRate(), snap.Window.EmptyRate, 1e-12)

	var oneClass []string
	for i, p := range c.PredictBatch(texts) {
		if p.Tag == "natural-language-processing" {
			oneClass = append(oneClass, texts[i])
		}
	}
	require.NotEmpty(t, oneClass)
	skewed, err := monitor.New(tags, referenceOf(baseline), cfg)
	require.NoError(t, err)
	for len(oneClass) < len(texts) {
		oneClass = append(oneClass, oneClass...)
	}
	observe(skewed, c, oneClass[:len(texts)])
	snap = skewed.Snapshot()
	assert.True(t, snap.Drift[0].Drifted, "tag drift: %+v", snap.Drift[0])
	assert.Equal(t, 1.0, snap.Window.TagShares["natural-language-processing"])
}
