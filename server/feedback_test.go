package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/feedback"
	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
)

// labelledCorpus returns a model directory to serve and labelled texts in
// its distribution: the committed model and the holdout set it was
// evaluated on and whose baseline it carries, when the data is at
// $TAGIFAI_DATA or ../../shared/data (beside the checkout, as in CI);
// otherwise a model trained here on the fixtures of model/testdata, whose
// baseline is of the fixture rows, repeated to 300 texts.
func labelledCorpus(t *testing.T) (artifactDir string, examples []model.Example, c *model.Classifier) {
	t.Helper()
	dir := os.Getenv("TAGIFAI_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "data")
	}
	if held, err := model.ReadCSV(filepath.Join(dir, "holdout.csv")); err == nil {
		art, err := model.Load(committedArtifactDir)
		require.NoError(t, err)
		require.NotNil(t, art.Baseline)
		require.Equal(t, len(held), art.Baseline.NumTexts, "the committed model's baseline is of this holdout")
		return committedArtifactDir, held, art.Classifier
	}
	t.Logf("no holdout.csv in %s: a model trained on fixtures", dir)
	var rows []model.Example
	for _, f := range []string{"train.csv", "holdout.csv"} {
		ex, err := model.ReadCSV(filepath.Join("..", "model", "testdata", f))
		require.NoError(t, err)
		rows = append(rows, ex...)
	}
	args := model.DefaultArgs()
	args.MinFreq, args.NumEpochs = 5, 10
	res, err := model.Train(context.Background(), rows, args, 1, nil)
	require.NoError(t, err)
	for len(examples) < 300 {
		examples = append(examples, rows...)
	}
	art := &model.Artifact{
		RunID: "fixture-run", CreatedAt: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Args: args,
		Performance: model.Evaluate(res.Classifier, examples), Classifier: res.Classifier,
		Baseline: model.NewBaseline(res.Classifier, model.Texts(examples), "fixture"),
	}
	artifactDir = t.TempDir()
	require.NoError(t, model.Save(artifactDir, art))
	return artifactDir, examples, res.Classifier
}

// monitoredReplica is a server over a store that open opens, serving the
// model in artifactDir (imported as version 1 when the database is
// empty), its serving lifecycle running, with a viewer's and a
// predictor's keys.
type monitoredReplica struct {
	*Server
	store *registry.SQLStore
	reg   *registry.Registry
	keys  apiKeys
}

func newMonitoredReplica(t *testing.T, open func() (*registry.SQLStore, error), artifactDir string) *monitoredReplica {
	t.Helper()
	ctx := context.Background()
	store, err := open()
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg, err := registry.New(store, filepath.Join(t.TempDir(), "artifacts"), log)
	require.NoError(t, err)
	_, err = reg.ImportIfEmpty(ctx, DefaultModelName, artifactDir, "test")
	require.NoError(t, err)
	keys := apiKeys{}
	for _, role := range []registry.Role{registry.RoleViewer, registry.RolePredictor} {
		_, key, err := reg.CreateUser(ctx, fmt.Sprintf("%s-%d", role, time.Now().UnixNano()), role)
		require.NoError(t, err)
		keys[string(role)] = key
	}
	// All the CPU it needs: the tests count every prediction, even under
	// the race detector on a busy machine.
	s := wireServer(t, store, reg, true, testConfig{Config: Config{Logger: log}, Serving: serving.Config{MonitoringCPU: 1}})
	require.NoError(t, s.serving.LoadServing(ctx))
	return &monitoredReplica{Server: s, store: store, reg: reg, keys: keys}
}

// call sends r as caller, requires status, and decodes the body into out.
func (m *monitoredReplica) call(t *testing.T, r request, caller string, status int, out any) {
	t.Helper()
	rec := do(m, r.withHeader(m.keys.as(caller)))
	require.Equal(t, status, rec.Code, rec.Body.String())
	if out != nil {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), out))
	}
}

// predict tags texts through m, 100 a request, and returns the
// predictions.
func (m *monitoredReplica) predict(t *testing.T, path string, texts []string) []gen.Prediction {
	t.Helper()
	var out []gen.Prediction
	for start := 0; start < len(texts); start += 100 {
		var body gen.PredictRequest
		for _, text := range texts[start:min(start+100, len(texts))] {
			body.Texts = append(body.Texts, gen.TextInput{Text: text})
		}
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		var resp gen.PredictionsEnvelope
		m.call(t, request{method: "POST", path: path, body: string(raw), contentType: jsonCT}, "predictor", http.StatusOK, &resp)
		out = append(out, resp.Data.Predictions...)
	}
	return out
}

// sendFeedback posts items through m and returns the answer.
func (m *monitoredReplica) sendFeedback(t *testing.T, items []gen.FeedbackItem) gen.FeedbackResults {
	t.Helper()
	raw, err := json.Marshal(gen.FeedbackRequest{Items: items})
	require.NoError(t, err)
	r := request{method: "POST", path: "/feedback", body: string(raw), contentType: jsonCT}
	rec := do(m, r.withHeader(m.keys.as("predictor")))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	validateResponse(t, specRoutes(loadSpec(t))["sendFeedback"], r, rec.Code, rec.Header(), rec.Body.Bytes())
	var resp gen.FeedbackEnvelope
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	require.Len(t, resp.Data.Results, len(items))
	return resp.Data
}

// monitoring returns the serving version's monitoring through m.
func (m *monitoredReplica) monitoring(t *testing.T) gen.VersionMonitoring {
	t.Helper()
	r := request{method: "GET", path: "/monitoring"}
	rec := do(m, r.withHeader(m.keys.as("viewer")))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	validateResponse(t, specRoutes(loadSpec(t))["getMonitoring"], r, rec.Code, rec.Header(), rec.Body.Bytes())
	var resp gen.MonitoringEnvelope
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	require.NotEmpty(t, resp.Data.Versions)
	return resp.Data.Versions[0]
}

// waitObserved waits until the serving version's window has observed n
// predictions: monitoring runs off the request path.
func (m *monitoredReplica) waitObserved(t *testing.T, n int) gen.VersionMonitoring {
	t.Helper()
	var v gen.VersionMonitoring
	require.Eventually(t, func() bool {
		v = m.monitoring(t)
		return v.Window.Observed >= n
	}, 20*time.Second, 10*time.Millisecond)
	require.Equal(t, n, v.Window.Observed)
	require.Zero(t, v.Window.Dropped)
	return v
}

// TestMonitoringDrift: in-distribution texts (the baseline's own) show no
// drift at the documented significance; then a few hundred texts of one
// class make the tag distribution drift, and the metrics say so.
func TestMonitoringDrift(t *testing.T) {
	t.Parallel()
	artifactDir, examples, _ := labelledCorpus(t)
	path := emptyDatabase(t)
	s := newMonitoredReplica(t, func() (*registry.SQLStore, error) { return registry.OpenSQLite(context.Background(), path) }, artifactDir)
	texts := model.Texts(examples)

	preds := s.predict(t, "/predict", texts)
	v := s.waitObserved(t, len(texts))
	require.True(t, v.HasBaseline)
	require.NotNil(t, v.Signals.Baseline)
	require.Len(t, v.Drift, 4)
	for _, d := range v.Drift {
		assert.True(t, d.Enough, "%s: %d predictions are enough", d.Signal, d.WindowSize)
		assert.False(t, d.Drifted, "%s drifted on in-distribution texts: %+v", d.Signal, d)
		if d.PValue != nil {
			assert.Equal(t, 0.05, *d.Significance)
		}
	}
	assert.False(t, v.Drifted)
	assert.Equal(t, len(texts), v.Window.Size)
	assert.Equal(t, v.Signals.Baseline.TagShares, v.Signals.Window.TagShares, "the baseline's texts, the baseline's shares")

	var oneClass []string
	for i, p := range preds {
		if p.PredictedTag == "natural-language-processing" {
			oneClass = append(oneClass, texts[i])
		}
	}
	require.NotEmpty(t, oneClass)
	for len(oneClass) < 300 {
		oneClass = append(oneClass, oneClass...)
	}
	oneClass = oneClass[:300]
	s.predict(t, "/predict", oneClass)
	v = s.waitObserved(t, len(texts)+len(oneClass))
	tag := v.Drift[0]
	require.Equal(t, gen.DriftSignalTag, tag.Signal)
	assert.True(t, tag.Drifted, "%+v", tag)
	assert.Less(t, *tag.PValue, 1e-6)
	assert.True(t, v.Drifted)
	assert.Greater(t, v.Signals.Window.TagShares["natural-language-processing"], v.Signals.Baseline.TagShares["natural-language-processing"])

	rec := do(s, request{method: "GET", path: "/metrics"})
	require.Equal(t, http.StatusOK, rec.Code)
	metrics := rec.Body.String()
	assert.Contains(t, metrics, `tagifai_drift_detected{model="tagifai",signal="tag",version="1"} 1`)
	assert.Contains(t, metrics, fmt.Sprintf(`tagifai_drift_p_value{model="tagifai",signal="tag",version="1"} %g`, *tag.PValue))
	assert.Contains(t, metrics, `tagifai_drift_statistic{model="tagifai",signal="oov_rate",version="1"}`)
	assert.NotContains(t, metrics, `tagifai_drift_p_value{model="tagifai",signal="oov_rate"`, "a threshold has no p-value")
	assert.Contains(t, metrics, fmt.Sprintf(`tagifai_monitoring_window_predictions{model="tagifai",version="1"} %d`, len(texts)+len(oneClass)))
	assert.Contains(t, metrics, `tagifai_live_f1{model="tagifai",version="1",window="24h"} 0`)
	assert.Contains(t, metrics, `tagifai_feedback_labels{model="tagifai",version="1",window="all"} 0`)
}

// TestReplicasLiveF1MatchesEvaluate: the holdout's texts predicted through two
// replicas sharing a database, and their true tags fed back through both,
// give on each replica live precision, recall and F1 equal to what
// `tagifai evaluate` reports for the same version and texts; the feedback
// is counted once, and survives a restart.
func TestReplicasLiveF1MatchesEvaluate(t *testing.T) {
	t.Parallel()
	artifactDir, examples, c := labelledCorpus(t)
	want := model.Evaluate(c, examples)
	for name, newDatabase := range sharedDatabases(t) {
		t.Run(name, func(t *testing.T) {
			open := newDatabase(t)
			a := newMonitoredReplica(t, open, artifactDir)
			b := newMonitoredReplica(t, open, artifactDir)
			texts := model.Texts(examples)
			half := len(texts) / 2
			preds := append(a.predict(t, "/predict", texts[:half]), b.predict(t, "/models/tagifai/versions/1/predictions", texts[half:])...)
			require.Len(t, preds, len(examples))

			items := make([]gen.FeedbackItem, len(examples))
			classes := c.Classes()
			for i, ex := range examples {
				tag := ex.Tag
				if !contains(classes, tag) {
					tag = model.OtherTag // as evaluation counts it
				}
				items[i] = gen.FeedbackItem{PredictionId: preds[i].PredictionId, Tag: tag}
			}
			got := a.sendFeedback(t, items)
			assert.Equal(t, len(items), got.Accepted)
			again := b.sendFeedback(t, items)
			assert.Zero(t, again.Accepted, "the same feedback through another replica is not counted again")
			for _, r := range again.Results {
				assert.Equal(t, gen.FeedbackStatusAlreadyRecorded, r.Status)
			}

			check := func(r *monitoredReplica) {
				t.Helper()
				live := r.monitoring(t).LivePerformance
				for _, p := range []gen.LivePerformance{live.All, live.Last24h} {
					assert.Equal(t, len(examples), p.Labels)
					assert.InDelta(t, want.Overall.F1, p.Overall.F1, 1e-9)
					assert.InDelta(t, want.Overall.Precision, p.Overall.Precision, 1e-9)
					assert.InDelta(t, want.Overall.Recall, p.Overall.Recall, 1e-9)
					require.Len(t, p.Class, len(want.Class))
					for cl, m := range want.Class {
						assert.InDelta(t, m.F1, p.Class[cl].F1, 1e-9, cl)
						assert.Equal(t, m.NumSamples, p.Class[cl].NumSamples, cl)
					}
					require.NotNil(t, p.ConfusionMatrix)
					assert.Equal(t, want.ConfusionMatrix.Matrix, p.ConfusionMatrix.Matrix)
				}
			}
			check(a)
			check(b)
			f1, ok := a.liveF1(DefaultModelName, 1, time.Time{})
			assert.True(t, ok)
			assert.InDelta(t, want.Overall.F1, f1, 1e-9, "a rollout's live F1 is the same")
			_, ok = a.liveF1(DefaultModelName, 1, time.Now().Add(time.Hour))
			assert.False(t, ok, "no feedback on predictions of the next hour")
			rec := do(b, request{method: "GET", path: "/metrics"})
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Contains(t, rec.Body.String(), fmt.Sprintf(`tagifai_feedback_labels{model="tagifai",version="1",window="24h"} %d`, len(examples)))
			assert.Contains(t, rec.Body.String(), fmt.Sprintf(`tagifai_holdout_f1{model="tagifai",version="1"} %g`, want.Overall.F1),
				"the holdout's true tags fed back give the holdout F1")
			live := b.monitoring(t).LivePerformance.All.Overall.F1
			assert.Contains(t, rec.Body.String(), `tagifai_live_f1{model="tagifai",version="1",window="all"} `+strconv.FormatFloat(live, 'g', -1, 64))

			// A restart: a new replica, nothing in memory, over the same
			// database.
			check(newMonitoredReplica(t, open, artifactDir))
		})
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestFeedbackBadInput: each kind of bad item gets its own answer, never a
// 5xx, and nothing is stored twice.
func TestFeedbackBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := emptyDatabase(t)
	s := newMonitoredReplica(t, func() (*registry.SQLStore, error) { return registry.OpenSQLite(ctx, path) }, committedArtifactDir)
	preds := s.predict(t, "/predict", []string{
		"Transfer learning with transformers for text classification.",
		"Object detection with YOLO and convolutional networks.",
		"Serving models with Kubernetes and monitoring them in production.",
		"A survey of graph neural networks.",
	})
	named := s.predict(t, "/models/tagifai/versions/1/predictions", []string{"BERT for named entity recognition."})
	key, err := s.store.SigningKey(ctx, predictionIDKey, feedback.NewKey()) // the stored one wins
	require.NoError(t, err)
	signer, err := feedback.NewSigner(key)
	require.NoError(t, err)
	other, err := feedback.NewSigner(feedback.NewKey())
	require.NoError(t, err)
	v1, err := s.store.Version(ctx, DefaultModelName, 1)
	require.NoError(t, err)
	claims := feedback.Claims{Model: DefaultModelName, Version: 1, Tag: 2, Time: time.Now(), Checksum: feedback.ChecksumPrefix(v1.Checksum), Nonce: 99}
	sign := func(change func(*feedback.Claims)) string {
		c := claims
		change(&c)
		return signer.Issue(c)
	}
	forged := []byte(preds[0].PredictionId)
	forged[10] ^= 0x01
	if forged[10] == '-' || forged[10] == '_' { // stay in the alphabet
		forged[10] = 'A'
	}

	items := []gen.FeedbackItem{
		{PredictionId: preds[0].PredictionId, Tag: "natural-language-processing"},                                      // 0
		{PredictionId: preds[0].PredictionId, Tag: "mlops"},                                                            // 1: duplicate in the request
		{PredictionId: string(forged), Tag: "mlops"},                                                                   // 2
		{PredictionId: "not-a-prediction-id", Tag: "mlops"},                                                            // 3
		{PredictionId: other.Issue(claims), Tag: "mlops"},                                                              // 4: another server's key
		{PredictionId: sign(func(c *feedback.Claims) { c.Time = time.Now().Add(-31 * 24 * time.Hour) }), Tag: "mlops"}, // 5
		{PredictionId: sign(func(c *feedback.Claims) { c.Version = 9 }), Tag: "mlops"},                                 // 6
		{PredictionId: sign(func(c *feedback.Claims) { c.Checksum = [4]byte{1, 2, 3, 4} }), Tag: "mlops"},              // 7: version 1 re-uploaded
		{PredictionId: sign(func(c *feedback.Claims) { c.Tag = 40 }), Tag: "mlops"},                                    // 8
		{PredictionId: preds[1].PredictionId, Tag: "robotics"},                                                         // 9
		{PredictionId: preds[2].PredictionId, Tag: "mlops"},                                                            // 10
		{PredictionId: named[0].PredictionId, Tag: "natural-language-processing"},                                      // 11
		{PredictionId: sign(func(c *feedback.Claims) { c.Time = time.Now().Add(-29 * 24 * time.Hour) }), Tag: "other"}, // 12
		{PredictionId: sign(func(c *feedback.Claims) { c.Tag = 4; c.Nonce = 100 }), Tag: "other"},                      // 13: "other" is a class here
		{PredictionId: preds[1].PredictionId, Tag: "computer-vision"},                                                  // 14: corrects 9, which took no id
	}
	got := s.sendFeedback(t, items)
	want := []gen.FeedbackStatus{
		gen.FeedbackStatusAccepted, gen.FeedbackStatusDuplicate, gen.FeedbackStatusInvalidId, gen.FeedbackStatusInvalidId,
		gen.FeedbackStatusInvalidId, gen.FeedbackStatusExpired, gen.FeedbackStatusUnknownVersion, gen.FeedbackStatusUnknownVersion,
		gen.FeedbackStatusInvalidId, gen.FeedbackStatusUnknownTag, gen.FeedbackStatusAccepted, gen.FeedbackStatusAccepted,
		gen.FeedbackStatusAccepted, gen.FeedbackStatusInvalidId, gen.FeedbackStatusAccepted,
	}
	assert.Equal(t, "the tag must be one of computer-vision, mlops, natural-language-processing, other", *got.Results[9].Message)
	assert.Contains(t, *got.Results[7].Message, "uploaded again with other bytes")
	for i, r := range got.Results {
		assert.Equal(t, i, r.Index)
		assert.Equal(t, want[i], r.Status, "item %d", i)
		if r.Status != gen.FeedbackStatusAccepted {
			require.NotNil(t, r.Message, "item %d says why", i)
			assert.NotContains(t, *r.Message, "registry:", "no internal detail")
		}
	}
	assert.Equal(t, 5, got.Accepted)

	// Across requests: the same tag again is a retry, another tag loses to
	// the first.
	got = s.sendFeedback(t, []gen.FeedbackItem{items[0], {PredictionId: preds[2].PredictionId, Tag: "other"}, {PredictionId: preds[3].PredictionId, Tag: "other"}})
	assert.Equal(t, []gen.FeedbackStatus{gen.FeedbackStatusAlreadyRecorded, gen.FeedbackStatusConflict, gen.FeedbackStatusAccepted},
		[]gen.FeedbackStatus{got.Results[0].Status, got.Results[1].Status, got.Results[2].Status})
	assert.Equal(t, 6, s.monitoring(t).LivePerformance.All.Labels, "each prediction counted once")

	// A stored batch prediction's id: the same every time it is read, and
	// accepted once.
	prepareSample(t, testRegistry{s.store, s.reg}, "getStoredPrediction", nil)
	var stored gen.StoredPredictionEnvelope
	s.call(t, request{method: "GET", path: "/predictions/" + sampleItemID}, "predictor", http.StatusOK, &stored)
	var page gen.StoredPredictionsEnvelope
	s.call(t, request{method: "GET", path: "/batch-jobs/" + sampleJobID + "/predictions"}, "predictor", http.StatusOK, &page)
	require.Len(t, page.Data.Predictions, 1)
	assert.Equal(t, stored.Data.PredictionId, page.Data.Predictions[0].PredictionId)
	got = s.sendFeedback(t, []gen.FeedbackItem{{PredictionId: stored.Data.PredictionId, Tag: "natural-language-processing"}})
	assert.Equal(t, gen.FeedbackStatusAccepted, got.Results[0].Status)

	// Bodies the schema refuses: a 4xx, and nothing stored.
	for _, body := range []string{
		`{"items":[{"prediction_id":"` + preds[3].PredictionId + `","tag":"other","extra":1}]}`,
		`{"items":[{"prediction_id":null,"tag":"mlops"}]}`,
		`{"items":[{"prediction_id":"x","tag":""}]}`,
		`{"items":{"prediction_id":"x","tag":"mlops"}}`,
		`{"items":[{"prediction_id":"x","tag":"mlops"}]` + strings.Repeat(" ", 10),
		"{\"items\":[{\"prediction_id\":\"\xff\",\"tag\":\"mlops\"}]}",
	} {
		rec := do(s, request{method: "POST", path: "/feedback", body: body, contentType: jsonCT}.withHeader(s.keys.as("predictor")))
		assert.True(t, rec.Code >= 400 && rec.Code < 500, "%d for %q: %s", rec.Code, body, rec.Body.String())
	}
	assert.Equal(t, 7, s.monitoring(t).LivePerformance.All.Labels)
}

// TestBulkFeedbackLimit: a request of 10,000 items, the most one takes,
// gets an answer for each, in order.
func TestBulkFeedbackLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := emptyDatabase(t)
	s := newMonitoredReplica(t, func() (*registry.SQLStore, error) { return registry.OpenSQLite(ctx, path) }, committedArtifactDir)
	key, err := s.store.SigningKey(ctx, predictionIDKey, feedback.NewKey()) // the stored one wins
	require.NoError(t, err)
	signer, err := feedback.NewSigner(key)
	require.NoError(t, err)
	v1, err := s.store.Version(ctx, DefaultModelName, 1)
	require.NoError(t, err)

	// One prediction time for all: items i and i+9,000 must be the same id.
	made := time.Now()
	many := make([]gen.FeedbackItem, 10_000)
	for i := range many {
		c := feedback.Claims{Model: DefaultModelName, Version: 1, Tag: 2, Time: made, Checksum: feedback.ChecksumPrefix(v1.Checksum), Nonce: uint64(1000 + i%9_000)}
		many[i] = gen.FeedbackItem{PredictionId: signer.Issue(c), Tag: "mlops"}
	}
	got := s.sendFeedback(t, many)
	assert.Equal(t, 9_000, got.Accepted)
	require.Len(t, got.Results, len(many))
	for i, r := range got.Results {
		require.Equal(t, i, r.Index)
		if i >= 9_000 {
			require.Equal(t, gen.FeedbackStatusDuplicate, r.Status, "item %d", i)
		} else {
			require.Equal(t, gen.FeedbackStatusAccepted, r.Status, "item %d", i)
		}
	}
	assert.Equal(t, 9_000, s.monitoring(t).LivePerformance.All.Labels)
}
