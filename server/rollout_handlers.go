package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
)

// etag is the ETag of a model at revision: the same on every replica.
func etag(revision int64) string { return `"` + strconv.FormatInt(revision, 10) + `"` }

// withIfMatch returns ctx carrying the revisions an If-Match header
// accepts: nil header or "*" for any; entries that are not an ETag of
// ours match nothing (RFC 9110: strong comparison, so W/ never matches).
func withIfMatch(ctx context.Context, header *string) context.Context {
	if header == nil || strings.TrimSpace(*header) == "*" {
		return ctx
	}
	var revs []int64
	for _, tag := range strings.Split(*header, ",") {
		tag = strings.TrimSpace(tag)
		if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
			continue
		}
		if n, err := strconv.ParseInt(tag[1:len(tag)-1], 10, 64); err == nil && n > 0 {
			revs = append(revs, n)
		}
	}
	return registry.WithIfMatch(ctx, revs...)
}

// GetRollout implements GET /models/{model-name}/rollout.
func (s *Server) GetRollout(ctx context.Context, req gen.GetRolloutRequestObject) (gen.GetRolloutResponseObject, error) {
	ro, err := s.store.Rollout(ctx, req.ModelName)
	if err != nil {
		return nil, err
	}
	view, err := s.rolloutView(ctx, ro)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.GetRollout200JSONResponse{Headers: gen.GetRollout200ResponseHeaders{ETag: etag(ro.Revision)},
		Body: gen.RolloutEnvelope{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url, Data: view}}, nil
}

// StartRollout implements PUT /models/{model-name}/rollout.
func (s *Server) StartRollout(ctx context.Context, req gen.StartRolloutRequestObject) (gen.StartRolloutResponseObject, error) {
	b := req.Body
	ro := registry.Rollout{Model: req.ModelName, Candidate: b.Candidate, Mode: string(b.Mode), Percent: 100}
	if b.Percent != nil {
		ro.Percent = *b.Percent
	} else if ro.Mode == registry.ModeCanary {
		return nil, problemError(http.StatusUnprocessableEntity, typeMissing, "a canary needs the percent of callers the candidate answers", "body", "percent")
	}
	if g := b.Guard; g != nil {
		// Each mode's guard judges what the mode measures: a shadow
		// candidate's agreement (it answers no caller, so no feedback
		// reaches it), a canary's live F1 (it is not compared).
		switch {
		case ro.Mode == registry.ModeShadow && (g.MinLiveF1 != nil || g.MinLabels != nil):
			return nil, problemError(http.StatusUnprocessableEntity, typeInvalid, "a shadow candidate answers no caller, so no feedback reaches it: its guard judges the agreement (min_agreement, min_samples)", "body", "guard")
		case ro.Mode == registry.ModeShadow && g.MinAgreement == nil:
			return nil, problemError(http.StatusUnprocessableEntity, typeMissing, "a shadow rollout's guard needs min_agreement, the least agreement rate", "body", "guard", "min_agreement")
		case ro.Mode == registry.ModeCanary && (g.MinAgreement != nil || g.MinSamples != nil):
			return nil, problemError(http.StatusUnprocessableEntity, typeInvalid, "a canary is not compared with the serving version: its guard judges the candidate's live F1 (min_live_f1, min_labels)", "body", "guard")
		case ro.Mode == registry.ModeCanary && g.MinLiveF1 == nil:
			return nil, problemError(http.StatusUnprocessableEntity, typeMissing, "a canary's guard needs min_live_f1, the candidate's least live F1", "body", "guard", "min_live_f1")
		}
		ro.MinAgreement, ro.MinLiveF1 = g.MinAgreement, g.MinLiveF1
		if g.MinSamples != nil {
			ro.MinSamples = *g.MinSamples
		}
		if g.MinLabels != nil {
			ro.MinLabels = *g.MinLabels
		}
	}
	// The candidate must load before any replica is told to run it.
	if _, err := s.store.Model(ctx, req.ModelName); err != nil {
		return nil, err
	}
	if _, err := s.serving.Named(ctx, req.ModelName, b.Candidate); err != nil {
		if code := registry.ErrorCode(err); code == registry.ENOTFOUND {
			return nil, problemError(http.StatusNotFound, typeNotFound, fmt.Sprintf("model %s has no version %d to roll out", req.ModelName, b.Candidate), "body", "candidate")
		}
		s.log.Error("load rollout candidate", slog.String("model", req.ModelName), slog.Int("version", b.Candidate), slog.String("error", err.Error()))
		return nil, problemError(http.StatusUnprocessableEntity, typeInvalid,
			fmt.Sprintf("version %d of %s cannot be loaded; the server log says why", b.Candidate, req.ModelName), "body", "candidate")
	}
	out, changed, err := s.store.StartRollout(withIfMatch(ctx, req.Params.IfMatch), ro)
	if err != nil {
		return nil, err
	}
	s.log.Info("rollout set", slog.String("model", out.Model), slog.String("rollout", out.String()), slog.Bool("changed", changed), slog.String("by", userFrom(ctx)))
	if err := s.serving.SyncRollout(ctx); err != nil {
		s.log.Error("apply the rollout on this replica", slog.String("error", err.Error()))
	}
	view, err := s.rolloutView(ctx, out)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.StartRollout200JSONResponse{Headers: gen.StartRollout200ResponseHeaders{ETag: etag(out.Revision)},
		Body: gen.RolloutEnvelope{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url, Data: view}}, nil
}

// AbortRollout implements DELETE /models/{model-name}/rollout.
func (s *Server) AbortRollout(ctx context.Context, req gen.AbortRolloutRequestObject) (gen.AbortRolloutResponseObject, error) {
	reason := "aborted by " + registry.ActorFrom(ctx).User
	out, err := s.store.EndRollout(withIfMatch(ctx, req.Params.IfMatch), req.ModelName, reason, false)
	if err != nil {
		return nil, err
	}
	s.log.Info("rollout aborted", slog.String("model", out.Model), slog.String("rollout", out.String()), slog.String("by", userFrom(ctx)))
	if err := s.serving.SyncRollout(ctx); err != nil {
		s.log.Error("apply the end of the rollout on this replica", slog.String("error", err.Error()))
	}
	view, err := s.rolloutView(ctx, out)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.AbortRollout200JSONResponse{Headers: gen.AbortRollout200ResponseHeaders{ETag: etag(out.Revision)},
		Body: gen.RolloutEnvelope{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url, Data: view}}, nil
}

// rolloutView describes r with the figures this replica has of it.
func (s *Server) rolloutView(ctx context.Context, r registry.Rollout) (gen.Rollout, error) {
	m, err := s.store.Model(ctx, r.Model)
	if err != nil {
		return gen.Rollout{}, err
	}
	out := gen.Rollout{
		Model: r.Model, Candidate: r.Candidate, ServingVersion: m.ServingVersion, Mode: gen.RolloutMode(r.Mode),
		Percent: r.Percent, Status: gen.RolloutStatus(r.Status), StartedBy: r.StartedBy, StartedAt: r.StartedAt,
		UpdatedAt: r.UpdatedAt, EndedAt: r.EndedAt,
	}
	if r.Reason != "" {
		out.Reason = &r.Reason
	}
	switch {
	case r.MinAgreement != nil:
		n := r.MinSamples
		out.Guard = &gen.RolloutGuard{MinAgreement: r.MinAgreement, MinSamples: &n}
	case r.MinLiveF1 != nil:
		n := r.MinLabels
		out.Guard = &gen.RolloutGuard{MinLiveF1: r.MinLiveF1, MinLabels: &n}
	}
	if st := s.serving.RolloutStats(r); st != nil {
		out.Stats = s.rolloutStats(r.Model, st)
	}
	return out, nil
}

func (s *Server) rolloutStats(model string, st *serving.RolloutStats) *gen.RolloutStats {
	out := &gen.RolloutStats{
		Scope: gen.Replica, Replica: s.replicaID, Since: st.Since,
		Serving: sideView(st.Serving), Candidate: sideView(st.Candidate),
	}
	if s.liveF1 != nil {
		if f1, ok := s.liveF1(model, st.Serving.Version, st.Since); ok {
			out.Serving.LiveF1 = &f1
		}
		if f1, ok := s.liveF1(model, st.Candidate.Version, st.Since); ok {
			out.Candidate.LiveF1 = &f1
		}
	}
	if sh := st.Shadow; sh != nil {
		matrix := make([][]int, len(sh.Matrix))
		for i, row := range sh.Matrix {
			matrix[i] = make([]int, len(row))
			for j, n := range row {
				matrix[i][j] = int(n)
			}
		}
		out.Shadow = &gen.ShadowStats{
			Sampled: int(sh.Sampled), Dropped: int(sh.Dropped), QueueCapacity: sh.QueueCapacity,
			Compared: int(sh.Compared), Agreed: int(sh.Agreed), AgreementRate: sh.AgreementRate,
			Confusion: gen.ShadowConfusion{Labels: sh.Labels, Matrix: matrix},
		}
	}
	return out
}

func sideView(s serving.SideStats) gen.RolloutSide {
	tags := make(map[string]int, len(s.Tags))
	for k, n := range s.Tags {
		tags[k] = int(n)
	}
	return gen.RolloutSide{
		Version: s.Version, Requests: int(s.Requests), Predictions: int(s.Predictions), Tags: tags,
		Latency: gen.LatencySummary{MeanMs: s.MeanMS, P50Ms: s.P50MS, P95Ms: s.P95MS, P99Ms: s.P99MS},
	}
}

// LiveF1Func reports the live F1 of a model's version since a time, from
// the feedback received on its predictions; ok is false while there is
// none. It is the hook through which the feedback loop gives a rollout its
// live F1 per side.
type LiveF1Func func(model string, version int, since time.Time) (f1 float64, ok bool)

// ListAuditEvents implements GET /audit-events.
func (s *Server) ListAuditEvents(ctx context.Context, req gen.ListAuditEventsRequestObject) (gen.ListAuditEventsResponseObject, error) {
	f := registry.AuditFilter{Limit: 100}
	p := req.Params
	if p.Resource != nil {
		f.Resource = strings.TrimRight(*p.Resource, "/")
	}
	if p.User != nil {
		f.Actor = *p.User
	}
	if p.Limit != nil {
		f.Limit = *p.Limit
	}
	if p.Cursor != nil {
		n, err := strconv.ParseInt(*p.Cursor, 10, 64)
		if err != nil || n < 1 {
			return nil, problemError(http.StatusUnprocessableEntity, typeInvalid, "cursor is not one this server gave", "query", "cursor")
		}
		f.Before = n
	}
	events, err := s.store.AuditEvents(ctx, f)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	resp := gen.ListAuditEvents200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url}
	resp.Data.Events = make([]gen.AuditEvent, len(events))
	for i, ev := range events {
		resp.Data.Events[i] = gen.AuditEvent{
			Id: strconv.FormatInt(ev.ID, 10), At: ev.At, User: ev.Actor, Action: ev.Action, Resource: ev.Resource,
			From: ev.From, To: ev.To, RequestId: ev.RequestID,
		}
	}
	if len(events) == f.Limit {
		next := strconv.FormatInt(events[len(events)-1].ID, 10)
		resp.Data.NextCursor = &next
	}
	return resp, nil
}
