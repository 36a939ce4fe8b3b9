package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
)

func toModelSummary(m registry.Model) gen.ModelSummary {
	return gen.ModelSummary{Name: m.Name, ServingVersion: m.ServingVersion, VersionCount: m.VersionCount, CreatedAt: m.CreatedAt}
}

// toVersionInfo describes v; with detail, its args and performance too.
func toVersionInfo(v registry.Version, detail bool) (gen.VersionInfo, error) {
	info := gen.VersionInfo{
		Model: v.Model, Version: v.Version, Serving: v.Serving, RunId: v.RunID, Checksum: v.Checksum,
		SizeBytes: v.Size, Classes: v.Classes, CreatedAt: v.CreatedAt, UploadedBy: v.UploadedBy,
	}
	if info.Classes == nil {
		info.Classes = []string{}
	}
	if !detail {
		return info, nil
	}
	var args map[string]any
	if err := json.Unmarshal(v.Args, &args); err != nil {
		return gen.VersionInfo{}, fmt.Errorf("server: decode args of %s/%d: %w", v.Model, v.Version, err)
	}
	var perf model.Performance
	if err := json.Unmarshal(v.Performance, &perf); err != nil {
		return gen.VersionInfo{}, fmt.Errorf("server: decode performance of %s/%d: %w", v.Model, v.Version, err)
	}
	p := toPerformance(perf)
	info.Args, info.Performance = &args, &p
	return info, nil
}

// ListModels implements GET /models.
func (s *Server) ListModels(ctx context.Context, _ gen.ListModelsRequestObject) (gen.ListModelsResponseObject, error) {
	models, err := s.store.Models(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]gen.ModelSummary, len(models))
	for i, m := range models {
		out[i] = toModelSummary(m)
	}
	e := metaFrom(ctx, http.StatusOK)
	resp := gen.ListModels200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url}
	resp.Data.Models = out
	return resp, nil
}

// GetModel implements GET /models/{model-name}.
func (s *Server) GetModel(ctx context.Context, req gen.GetModelRequestObject) (gen.GetModelResponseObject, error) {
	m, err := s.store.Model(ctx, req.ModelName)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.GetModel200JSONResponse{Headers: gen.GetModel200ResponseHeaders{ETag: etag(m.Revision)},
		Body: gen.ModelEnvelope{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url,
			Data: toModelSummary(m)}}, nil
}

// ListVersions implements GET /models/{model-name}/versions.
func (s *Server) ListVersions(ctx context.Context, req gen.ListVersionsRequestObject) (gen.ListVersionsResponseObject, error) {
	versions, err := s.store.Versions(ctx, req.ModelName)
	if err != nil {
		return nil, err
	}
	out := make([]gen.VersionInfo, len(versions))
	for i, v := range versions {
		if out[i], err = toVersionInfo(v, false); err != nil {
			return nil, err
		}
	}
	e := metaFrom(ctx, http.StatusOK)
	resp := gen.ListVersions200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url}
	resp.Data.Versions = out
	return resp, nil
}

// GetVersion implements GET /models/{model-name}/versions/{version}.
func (s *Server) GetVersion(ctx context.Context, req gen.GetVersionRequestObject) (gen.GetVersionResponseObject, error) {
	v, err := s.store.Version(ctx, req.ModelName, req.Version)
	if err != nil {
		return nil, err
	}
	info, err := toVersionInfo(v, true)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.GetVersion200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url, Data: info}, nil
}

// UploadVersion implements PUT /models/{model-name}/versions/{version}.
func (s *Server) UploadVersion(ctx context.Context, req gen.UploadVersionRequestObject) (gen.UploadVersionResponseObject, error) {
	data, err := io.ReadAll(req.Body) // bounded by bodyGuard
	if err != nil {
		return nil, problemError(http.StatusBadRequest, typeInvalid, "body could not be read", "body")
	}
	v, created, err := s.registry.Upload(withIfMatch(ctx, req.Params.IfMatch), req.ModelName, req.Version, data, userFrom(ctx))
	if err != nil {
		return nil, err
	}
	info, err := toVersionInfo(v, true)
	if err != nil {
		return nil, err
	}
	if !created {
		e := metaFrom(ctx, http.StatusOK)
		return gen.UploadVersion200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url, Data: info}, nil
	}
	s.log.Info("version uploaded", slog.String("model", v.Model), slog.Int("version", v.Version),
		slog.String("checksum", v.Checksum), slog.String("by", v.UploadedBy))
	e := metaFrom(ctx, http.StatusCreated)
	return gen.UploadVersion201JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url, Data: info}, nil
}

// DeleteVersion implements DELETE /models/{model-name}/versions/{version}.
func (s *Server) DeleteVersion(ctx context.Context, req gen.DeleteVersionRequestObject) (gen.DeleteVersionResponseObject, error) {
	v, err := s.store.Version(ctx, req.ModelName, req.Version)
	if err != nil {
		return nil, err
	}
	if err := s.registry.Delete(withIfMatch(ctx, req.Params.IfMatch), req.ModelName, req.Version); err != nil {
		return nil, err
	}
	s.serving.Forget(req.ModelName, req.Version)
	s.log.Info("version deleted", slog.String("model", v.Model), slog.Int("version", v.Version), slog.String("by", userFrom(ctx)))
	info, err := toVersionInfo(v, true)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.DeleteVersion200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url, Data: info}, nil
}

// SetServingVersion implements PUT /models/{model-name}/serving-version.
func (s *Server) SetServingVersion(ctx context.Context, req gen.SetServingVersionRequestObject) (gen.SetServingVersionResponseObject, error) {
	if err := s.serving.Deploy(withIfMatch(ctx, req.Params.IfMatch), req.ModelName, req.Body.Version); err != nil {
		var loadErr *serving.LoadError
		if errors.As(err, &loadErr) {
			s.log.Error("load version", slog.String("model", req.ModelName), slog.Int("version", req.Body.Version), slog.String("error", err.Error()))
			return nil, problemError(http.StatusUnprocessableEntity, typeInvalid,
				fmt.Sprintf("version %d of %s cannot be loaded; the server log says why", req.Body.Version, req.ModelName), "body", "version")
		}
		return nil, err
	}
	s.log.Info("serving version set", slog.String("model", req.ModelName), slog.Int("version", req.Body.Version), slog.String("by", userFrom(ctx)))
	if err := s.serving.SyncRollout(ctx); err != nil { // a promotion ends the rollout
		s.log.Error("apply the rollout on this replica", slog.String("error", err.Error()))
	}
	m, err := s.store.Model(ctx, req.ModelName)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.SetServingVersion200JSONResponse{Headers: gen.SetServingVersion200ResponseHeaders{ETag: etag(m.Revision)},
		Body: gen.ModelEnvelope{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url,
			Data: toModelSummary(m)}}, nil
}

// PredictWithVersion implements POST /models/{model-name}/versions/{version}/predictions.
func (s *Server) PredictWithVersion(ctx context.Context, req gen.PredictWithVersionRequestObject) (gen.PredictWithVersionResponseObject, error) {
	texts, err := textsOf(req.Body.Texts)
	if err != nil {
		return nil, err
	}
	m, err := s.serving.Named(ctx, req.ModelName, req.Version)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.PredictWithVersion200JSONResponse{
		Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url,
		Data: gen.Predictions{Model: m.Name, Version: m.Version, RunId: m.RunID, Predictions: explained(m, texts, s.predict(m, texts), req.Body.Explain)},
	}, nil
}
