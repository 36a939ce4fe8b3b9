package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/tagifai/tagifai/model"
)

// This file is the Open Inference Protocol's only link to the serving
// lifecycle: which model version answers a /v2 request, which versions
// exist, and how texts are tagged. The protocol itself (oip*.go) knows
// nothing else of the server.

// oipModel returns the model version that answers a /v2 request for name:
// the serving version when version is "", else the version named (loaded
// from the registry on first use, as for named-version predictions).
func (s *Server) oipModel(ctx context.Context, name, version string) (*Serving, error) {
	cur := s.serving.Load()
	if version == "" {
		if name != s.modelName {
			return nil, oipErrorf(http.StatusNotFound, "model '%s' is unknown; this server serves '%s'", name, s.modelName)
		}
		if cur == nil {
			return nil, oipErrorf(http.StatusServiceUnavailable, "no model is loaded yet")
		}
		return cur, nil
	}
	v, err := strconv.Atoi(version)
	if err != nil || v < 1 || strconv.Itoa(v) != version {
		return nil, oipErrorf(http.StatusNotFound, "model '%s' has no version '%s'", name, version)
	}
	if cur != nil && cur.Name == name && cur.Version == v {
		return cur, nil
	}
	if s.registry == nil {
		if cur == nil {
			return nil, oipErrorf(http.StatusServiceUnavailable, "no model is loaded yet")
		}
		if name != cur.Name {
			return nil, oipErrorf(http.StatusNotFound, "model '%s' is unknown; this server serves '%s'", name, cur.Name)
		}
		return nil, oipErrorf(http.StatusNotFound, "model '%s' has no version '%s'; this server has only version %d", name, version, cur.Version)
	}
	return s.versionFor(ctx, name, v)
}

// oipVersions lists the versions of m's model that a /v2 path may name.
func (s *Server) oipVersions(ctx context.Context, m *Serving) ([]string, error) {
	nums := []int{m.Version}
	if s.registry != nil {
		versions, err := s.registry.Store().Versions(ctx, m.Name)
		if err != nil {
			return nil, err
		}
		nums = nums[:0]
		for _, v := range versions {
			nums = append(nums, v.Version)
		}
	}
	sort.Ints(nums)
	out := make([]string, len(nums))
	for i, n := range nums {
		out[i] = strconv.Itoa(n)
	}
	return out, nil
}

// oipPredictChunk is how many texts are tagged between two checks of a
// request's deadline.
const oipPredictChunk = 64

// oipPredict tags texts with m, recording the same metrics as POST
// /predict. When ctx has a deadline (the request's `timeout`), it tags the
// texts in chunks and stops between two once ctx is done.
func (s *Server) oipPredict(ctx context.Context, m *Serving, texts []string) ([]model.Prediction, error) {
	if _, ok := ctx.Deadline(); !ok {
		preds := m.Predictor.PredictBatch(texts)
		s.metrics.observePredictions(m, preds)
		s.monitorPredictions(m, preds)
		return preds, nil
	}
	preds := make([]model.Prediction, 0, len(texts))
	for start := 0; start < len(texts); start += oipPredictChunk {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("server: predict: %w", err)
		}
		preds = append(preds, m.Predictor.PredictBatch(texts[start:min(start+oipPredictChunk, len(texts))])...)
	}
	s.metrics.observePredictions(m, preds)
	s.monitorPredictions(m, preds)
	return preds, nil
}
