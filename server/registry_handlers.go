package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// errNoRegistry answers registry operations on a server that has none.
var errNoRegistry = problemError(http.StatusServiceUnavailable, typeNotReady, "this server has no model registry")

// reg returns the registry, or errNoRegistry.
func (s *Server) reg() (*registry.Registry, error) {
	if s.registry == nil {
		return nil, errNoRegistry
	}
	return s.registry, nil
}

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
	r, err := s.reg()
	if err != nil {
		return nil, err
	}
	models, err := r.Store().Models(ctx)
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
	r, err := s.reg()
	if err != nil {
		return nil, err
	}
	m, err := r.Store().Model(ctx, req.ModelName)
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
	r, err := s.reg()
	if err != nil {
		return nil, err
	}
	versions, err := r.Store().Versions(ctx, req.ModelName)
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
	r, err := s.reg()
	if err != nil {
		return nil, err
	}
	v, err := r.Store().Version(ctx, req.ModelName, req.Version)
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
	r, err := s.reg()
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(req.Body) // bounded by bodyGuard
	if err != nil {
		return nil, problemError(http.StatusBadRequest, typeInvalid, "body could not be read", "body")
	}
	v, created, err := r.Upload(ctx, req.ModelName, req.Version, data, userFrom(ctx))
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
	r, err := s.reg()
	if err != nil {
		return nil, err
	}
	v, err := r.Store().Version(ctx, req.ModelName, req.Version)
	if err != nil {
		return nil, err
	}
	if err := r.Delete(withIfMatch(ctx, req.Params.IfMatch), req.ModelName, req.Version); err != nil {
		return nil, err
	}
	s.versions.forget(req.ModelName, req.Version)
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
	if _, err := s.reg(); err != nil {
		return nil, err
	}
	if err := s.ServeVersion(withIfMatch(ctx, req.Params.IfMatch), req.ModelName, req.Body.Version); err != nil {
		return nil, err
	}
	if err := s.syncRollout(ctx); err != nil { // a promotion ends the rollout
		s.log.Error("apply the rollout on this replica", slog.String("error", err.Error()))
	}
	s.log.Info("serving version set", slog.String("model", req.ModelName), slog.Int("version", req.Body.Version), slog.String("by", userFrom(ctx)))
	m, err := s.registry.Store().Model(ctx, req.ModelName)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.SetServingVersion200JSONResponse{Headers: gen.SetServingVersion200ResponseHeaders{ETag: etag(m.Revision)},
		Body: gen.ModelEnvelope{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url,
			Data: toModelSummary(m)}}, nil
}

// ServeVersion makes version of model name the serving one: it loads and
// checks the artifact first, then moves the database's pointer, then swaps
// the version in. Requests in flight keep the version they started with.
func (s *Server) ServeVersion(ctx context.Context, name string, version int) error {
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	return s.loadAndServe(ctx, name, version, true)
}

// loadAndServe loads version of model name and, when name is the server's
// model, serves it; movePointer makes it the database's serving version
// too. The caller holds swapMu.
func (s *Server) loadAndServe(ctx context.Context, name string, version int, movePointer bool) error {
	start := time.Now()
	art, v, err := s.registry.Open(ctx, name, version)
	if err != nil {
		if registry.ErrorCode(err) != "" {
			return err
		}
		s.log.Error("load version", slog.String("model", name), slog.Int("version", version), slog.String("error", err.Error()))
		return problemError(http.StatusUnprocessableEntity, typeInvalid,
			fmt.Sprintf("version %d of %s cannot be loaded; the server log says why", version, name), "body", "version")
	}
	serving, err := FromArtifact(name, version, art, time.Since(start))
	if err != nil {
		return err
	}
	serving.Checksum = v.Checksum
	if movePointer {
		if err := s.registry.Store().SetServing(ctx, name, version); err != nil {
			return err
		}
	}
	if name == s.modelName {
		s.SetServing(serving)
	}
	return nil
}

// DefaultServingPollInterval is how often a server reads the serving
// version from the database by default, to follow changes made through
// other replicas.
const DefaultServingPollInterval = 5 * time.Second

// followServing keeps the serving version in memory the one the database
// names, checking every interval until ctx is done: replicas that share a
// database follow a deployment or a rollback made through any of them. A
// failure is logged when it first happens and when it clears, not at
// every check.
func (s *Server) followServing(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.syncServing(ctx)
		if err == nil {
			err = s.syncRollout(ctx)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && err.Error() != failing:
			failing = err.Error()
			s.log.Warn("following the database's serving version failed; serving the version in memory", slog.String("error", failing))
		case err == nil && failing != "":
			failing = ""
			s.log.Info("following the database's serving version again")
		}
	}
}

// watchServing follows the database's announcements of serving-version
// changes, when it makes them (PostgreSQL), until ctx is done: a
// deployment or a rollback made through another replica reaches this one
// in milliseconds instead of at the next poll. It listens again after a
// lost connection, waiting longer after each failure (up to 30 s); it
// reads the serving version each time it starts listening, so a change
// announced while it was not is not missed. followServing keeps polling
// all the same.
func (s *Server) watchServing(ctx context.Context, w registry.ServingWatcher) {
	const minWait, maxWait = 500 * time.Millisecond, 30 * time.Second
	wait := minWait
	for {
		listening := false
		err := w.WatchServing(ctx, func(model string) {
			listening = true
			if model != "" && model != s.modelName {
				return
			}
			if err := s.syncServing(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("serving the version the database announced failed; serving the version in memory",
					slog.String("error", err.Error()))
			}
			if err := s.syncRollout(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("applying the rollout the database announced failed", slog.String("error", err.Error()))
			}
		})
		switch {
		case errors.Is(err, errors.ErrUnsupported), ctx.Err() != nil:
			return
		case listening:
			wait = minWait
		}
		s.log.Warn("listening for serving-version changes failed; polling until it listens again",
			slog.String("error", err.Error()), slog.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

// syncServing serves the version the database names for the server's
// model, if the one in memory is another version, or the same number with
// other bytes (deleted and uploaded again through another replica).
func (s *Server) syncServing(ctx context.Context) error {
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	store := s.registry.Store()
	m, err := store.Model(ctx, s.modelName)
	if err != nil {
		return err
	}
	if m.ServingVersion == 0 {
		return nil
	}
	cur := s.serving.Load()
	if cur != nil && cur.Version == m.ServingVersion {
		v, err := store.Version(ctx, s.modelName, m.ServingVersion)
		if err != nil {
			return err
		}
		if v.Checksum == cur.Checksum {
			return nil
		}
	}
	if err := s.loadAndServe(ctx, s.modelName, m.ServingVersion, false); err != nil {
		var apiErr *Error
		if errors.As(err, &apiErr) && len(apiErr.Problems) > 0 {
			return fmt.Errorf("version %d of %s: %s", m.ServingVersion, s.modelName, apiErr.Problems[0].Message)
		}
		return err
	}
	s.log.Info("the database names another serving version; now serving it", slog.String("model", s.modelName), slog.Int("version", m.ServingVersion))
	return nil
}

// LoadServing loads the serving version of the server's model from the
// registry and serves it: what the server does at start-up.
func (s *Server) LoadServing(ctx context.Context) error {
	r, err := s.reg()
	if err != nil {
		return err
	}
	m, err := r.Store().Model(ctx, s.modelName)
	if err != nil {
		return err
	}
	if m.ServingVersion == 0 {
		return fmt.Errorf("server: model %s has no serving version", s.modelName)
	}
	// The database names this version already: loading it changes
	// nothing there, and records nothing in the audit trail.
	s.swapMu.Lock()
	err = s.loadAndServe(ctx, s.modelName, m.ServingVersion, false)
	s.swapMu.Unlock()
	if err != nil {
		return err
	}
	if err := s.syncRollout(ctx); err != nil {
		s.log.Error("apply the model's rollout", slog.String("error", err.Error()))
	}
	return nil
}

// PredictWithVersion implements POST /models/{model-name}/versions/{version}/predictions.
func (s *Server) PredictWithVersion(ctx context.Context, req gen.PredictWithVersionRequestObject) (gen.PredictWithVersionResponseObject, error) {
	if _, err := s.reg(); err != nil {
		return nil, err
	}
	texts, err := textsOf(req.Body.Texts)
	if err != nil {
		return nil, err
	}
	m, err := s.versionFor(ctx, req.ModelName, req.Version)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.PredictWithVersion200JSONResponse{
		Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url,
		Data: gen.Predictions{Model: m.Name, Version: m.Version, RunId: m.RunID, Predictions: explained(m, texts, s.predict(m, texts), req.Body.Explain)},
	}, nil
}

// versionFor returns a servable version: the serving one when it is that,
// else one from the cache, loading it on first use.
func (s *Server) versionFor(ctx context.Context, name string, version int) (*Serving, error) {
	if cur := s.serving.Load(); cur != nil && cur.Name == name && cur.Version == version {
		return cur, nil
	}
	// The version may have been deleted, or deleted and uploaded again
	// with other bytes, through another replica since it was cached.
	v, err := s.registry.Store().Version(ctx, name, version)
	if err != nil {
		return nil, err
	}
	load := func() (*Serving, error) {
		start := time.Now()
		art, v, err := s.registry.Open(ctx, name, version)
		if err != nil {
			return nil, err
		}
		m, err := FromArtifact(name, version, art, time.Since(start))
		if err != nil {
			return nil, err
		}
		m.Checksum = v.Checksum
		return m, nil
	}
	m, err := s.versions.get(name, version, load)
	if err == nil && m.Checksum != v.Checksum {
		s.versions.forget(name, version)
		m, err = s.versions.get(name, version, load)
	}
	return m, err
}
