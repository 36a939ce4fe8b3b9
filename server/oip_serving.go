package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
)

// This file is the Open Inference Protocol's only link to the serving
// lifecycle: which model version answers a /v2 request, which versions
// exist, and how texts are tagged. The protocol itself (oip*.go) knows
// nothing else of the server.

// oipModel returns the model version that answers a /v2 request for name:
// the serving version when version is "", else the version named (loaded
// from the registry on first use, as for named-version predictions). The
// server knows one model, its own, whichever path names it: any other name
// is unknown, with or without a version. A server that serves no version
// yet is not ready for either.
func (s *Server) oipModel(ctx context.Context, name, version string) (*serving.Version, error) {
	if name != s.modelName {
		return nil, oipErrorf(http.StatusNotFound, "model '%s' is unknown; this server serves '%s'", name, s.modelName)
	}
	cur := s.serving.Current()
	if version == "" {
		if cur == nil {
			return nil, oipErrorf(http.StatusServiceUnavailable, "no model is loaded yet")
		}
		return cur, nil
	}
	v, err := strconv.Atoi(version)
	if err != nil || v < 1 || strconv.Itoa(v) != version {
		return nil, oipErrorf(http.StatusNotFound, "model '%s' has no version '%s'", name, version)
	}
	if cur == nil {
		return nil, oipErrorf(http.StatusServiceUnavailable, "no model is loaded yet")
	}
	m, err := s.serving.Named(ctx, name, v)
	if registry.ErrorCode(err) == registry.ENOTFOUND {
		return nil, oipErrorf(http.StatusNotFound, "model '%s' has no version '%s'", name, version)
	}
	return m, err
}

// oipVersions lists the versions of m's model that a /v2 path may name:
// the registry's, and m's own in any case.
func (s *Server) oipVersions(ctx context.Context, m *serving.Version) ([]string, error) {
	versions, err := s.store.Versions(ctx, m.Name)
	if err != nil && registry.ErrorCode(err) != registry.ENOTFOUND {
		return nil, err
	}
	nums := []int{m.Version}
	for _, v := range versions {
		if v.Version != m.Version {
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

// oipPredict tags texts with m, reporting the predictions to the serving
// lifecycle as POST /predict does. When ctx has a deadline (the request's `timeout`), it tags the
// texts in chunks and stops between two once ctx is done.
func (s *Server) oipPredict(ctx context.Context, m *serving.Version, texts []string) ([]model.Prediction, error) {
	if _, ok := ctx.Deadline(); !ok {
		preds := m.Predictor.PredictBatch(texts)
		s.serving.Report(m, preds)
		return preds, nil
	}
	preds := make([]model.Prediction, 0, len(texts))
	for start := 0; start < len(texts); start += oipPredictChunk {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("server: predict: %w", err)
		}
		preds = append(preds, m.Predictor.PredictBatch(texts[start:min(start+oipPredictChunk, len(texts))])...)
	}
	s.serving.Report(m, preds)
	return preds, nil
}
