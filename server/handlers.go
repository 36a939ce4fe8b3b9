package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/serving"
)

// HealthCheck implements GET /.
func (s *Server) HealthCheck(ctx context.Context, _ gen.HealthCheckRequestObject) (gen.HealthCheckResponseObject, error) {
	m := s.serving.Current()
	if m == nil {
		return nil, errNotReady
	}
	e := metaFrom(ctx, http.StatusOK)
	return &healthResponse{st: stateFrom(ctx), HealthCheck200JSONResponse: gen.HealthCheck200JSONResponse{
		Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url,
		Data: gen.Health{Model: m.Name, Version: m.Version, RunId: m.RunID, UptimeSeconds: time.Since(s.started).Seconds()},
	}}, nil
}

// GetPerformance implements GET /performance.
func (s *Server) GetPerformance(ctx context.Context, req gen.GetPerformanceRequestObject) (gen.GetPerformanceResponseObject, error) {
	m := s.serving.Current()
	if m == nil {
		return nil, errNotReady
	}
	perf := toPerformance(m.Performance)
	if f := req.Params.Filter; f != nil {
		switch *f {
		case gen.Overall:
			perf = gen.Performance{Overall: perf.Overall}
		case gen.Class:
			perf = gen.Performance{Class: perf.Class}
		case gen.Slices:
			perf = gen.Performance{Slices: perf.Slices}
		}
	}
	e := metaFrom(ctx, http.StatusOK)
	resp := gen.GetPerformance200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url}
	resp.Data.Performance = perf
	return resp, nil
}

// GetArgs implements GET /args.
func (s *Server) GetArgs(ctx context.Context, _ gen.GetArgsRequestObject) (gen.GetArgsResponseObject, error) {
	m := s.serving.Current()
	if m == nil {
		return nil, errNotReady
	}
	e := metaFrom(ctx, http.StatusOK)
	resp := gen.GetArgs200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url}
	resp.Data.Args = m.Args
	return resp, nil
}

// GetArg implements GET /args/{arg}.
func (s *Server) GetArg(ctx context.Context, req gen.GetArgRequestObject) (gen.GetArgResponseObject, error) {
	m := s.serving.Current()
	if m == nil {
		return nil, errNotReady
	}
	v, ok := m.Args[req.Arg]
	if !ok {
		return nil, problemError(http.StatusNotFound, typeNotFound,
			fmt.Sprintf("no training argument named %q; GET /args lists them", req.Arg), "path", "arg")
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.GetArg200JSONResponse{
		Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url,
		Data: map[string]any{req.Arg: v},
	}, nil
}

// Predict implements POST /predict.
func (s *Server) Predict(ctx context.Context, req gen.PredictRequestObject) (gen.PredictResponseObject, error) {
	m, err := s.serving.Route(ctx)
	if err != nil {
		return nil, err
	}
	texts, err := textsOf(req.Body.Texts)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	preds := s.predict(m, texts)
	took := time.Since(start)
	tags := make([]string, len(preds))
	for i, p := range preds {
		tags[i] = p.PredictedTag
	}
	s.serving.ReportRouted(m, texts, tags, took)
	e := metaFrom(ctx, http.StatusOK)
	return &predictResponse{st: stateFrom(ctx), Predict200JSONResponse: gen.Predict200JSONResponse{
		Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url,
		Data: gen.Predictions{Model: m.Name, Version: m.Version, RunId: m.RunID, Predictions: explained(m, texts, preds, req.Body.Explain)},
	}}, nil
}

// DefaultExplainFeatures is how many features an explanation shows when
// the request does not say.
const DefaultExplainFeatures = 10

// explainer is a predictor that can explain its predictions
// (*model.Classifier is one).
type explainer interface {
	Explain(text string, top int) (model.Prediction, model.Explanation)
}

// explained adds to each prediction of texts its explanation when the
// request asked for one and m's predictor can explain; otherwise it
// returns preds as they are.
func explained(m *serving.Version, texts []string, preds []gen.Prediction, req *gen.ExplainRequest) []gen.Prediction {
	ex, ok := m.Predictor.(explainer)
	if req == nil || !ok {
		return preds
	}
	top := DefaultExplainFeatures
	if req.Features != nil {
		top = *req.Features
	}
	for i, text := range texts {
		_, e := ex.Explain(text, top)
		features := make([]gen.FeatureContribution, len(e.Features))
		for j, f := range e.Features {
			spans := make([][]int, len(f.Spans))
			for k, sp := range f.Spans {
				spans[k] = []int{sp.Start, sp.End}
			}
			features[j] = gen.FeatureContribution{
				Feature: f.Feature, Kind: gen.FeatureContributionKind(f.Kind), Value: f.Value,
				Weight: f.Weight, Contribution: f.Contribution, Spans: spans,
			}
		}
		preds[i].Explanation = &gen.Explanation{Class: e.Class, Score: e.Score, Intercept: e.Intercept, Features: features}
	}
	return preds
}

// textsOf extracts the texts of a prediction request and checks them.
func textsOf(in []gen.TextInput) ([]string, error) {
	texts := make([]string, len(in))
	for i, t := range in {
		texts[i] = t.Text
	}
	if err := checkTexts(texts); err != nil {
		return nil, err
	}
	return texts, nil
}

// predict runs m on texts, reports the predictions to the serving
// lifecycle (metrics, monitoring), and shapes the result for the API, each
// prediction with its id.
func (s *Server) predict(m *serving.Version, texts []string) []gen.Prediction {
	classes := m.Predictor.Classes()
	preds := m.Predictor.PredictBatch(texts)
	s.serving.Report(m, preds)
	ids := s.predictionIDs(m, classes, preds, time.Now())
	out := make([]gen.Prediction, len(preds))
	for i, pr := range preds {
		out[i] = gen.Prediction{InputText: texts[i], PredictedTag: pr.Tag, PredictedProbabilities: model.ProbabilitiesByClass(classes, pr.Probabilities),
			PredictionId: ids[i]}
	}
	return out
}

// Liveness implements GET /health/live: the process answers HTTP.
func (s *Server) Liveness(ctx context.Context, _ gen.LivenessRequestObject) (gen.LivenessResponseObject, error) {
	e := metaFrom(ctx, http.StatusOK)
	resp := gen.Liveness200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url}
	resp.Data.Status = gen.Alive
	return resp, nil
}

// Readiness implements GET /health/ready: a model is loaded and the
// registry's database answers and can be written.
func (s *Server) Readiness(ctx context.Context, _ gen.ReadinessRequestObject) (gen.ReadinessResponseObject, error) {
	if !s.Ready() {
		return nil, errNotReady
	}
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := s.store.Ping(pctx); err != nil {
		s.log.Error("readiness: database does not answer", slog.String("error", err.Error()))
		return nil, problemError(http.StatusServiceUnavailable, typeNotReady, "the registry's database does not answer")
	}
	if err := s.writable.check(pctx, s.store); err != nil {
		s.log.Error("readiness: registry cannot write", slog.String("error", err.Error()))
		return nil, problemError(http.StatusServiceUnavailable, typeNotReady, "the registry's database cannot be written")
	}
	e := metaFrom(ctx, http.StatusOK)
	resp := gen.Readiness200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url}
	resp.Data.Status = gen.Ready
	return resp, nil
}
