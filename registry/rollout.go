package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// EPRECONDITION is the code of a change refused because the model is no
// longer at the revision the caller saw (a stale If-Match).
const EPRECONDITION = "precondition_failed"

// Rollout modes.
const (
	// ModeShadow has the candidate predict a copy of the serving
	// version's traffic; only the serving version answers.
	ModeShadow = "shadow"
	// ModeCanary has the candidate answer a share of the callers.
	ModeCanary = "canary"
)

// Rollout statuses.
const (
	RolloutActive   = "active"
	RolloutAborted  = "aborted"
	RolloutPromoted = "promoted"
)

// DefaultGuardMinSamples is how many comparisons a shadow rollout's guard
// waits for before it judges the agreement rate.
const DefaultGuardMinSamples = 100

// DefaultGuardMinLabels is how many feedback labels on the candidate's
// answers a canary's guard waits for before it judges the live F1.
const DefaultGuardMinLabels = 50

// Rollout is a candidate version tried beside a model's serving version:
// the running one, or the last one and how it ended.
type Rollout struct {
	Model     string
	Candidate int
	Mode      string
	// Percent is the share of traffic, 0 to 100: shadowed (shadow) or of
	// callers answered by the candidate (canary).
	Percent float64
	// MinAgreement, when set, aborts a shadow rollout whose agreement rate
	// falls below it once MinSamples predictions were compared.
	MinAgreement *float64
	MinSamples   int
	// MinLiveF1, when set, aborts a canary whose candidate's live F1 (from
	// the feedback on its answers since the rollout started) falls below
	// it once MinLabels labels came back.
	MinLiveF1 *float64
	MinLabels int
	Status    string
	// Reason says why the rollout ended; "" while it runs.
	Reason    string
	StartedBy string
	StartedAt time.Time
	UpdatedAt time.Time
	EndedAt   *time.Time
	// Revision is the model's revision when the rollout was read.
	Revision int64
}

// Active reports whether the rollout runs.
func (r Rollout) Active() bool { return r.Status == RolloutActive }

// String describes the rollout in a few words, as the audit trail records it.
func (r Rollout) String() string {
	s := fmt.Sprintf("%s of version %d at %s%%", r.Mode, r.Candidate, strconv.FormatFloat(r.Percent, 'f', -1, 64))
	if r.MinAgreement != nil {
		s += fmt.Sprintf(", guard: agreement >= %s", strconv.FormatFloat(*r.MinAgreement, 'f', -1, 64))
	}
	if r.MinLiveF1 != nil {
		s += fmt.Sprintf(", guard: live F1 >= %s", strconv.FormatFloat(*r.MinLiveF1, 'f', -1, 64))
	}
	return s
}

// RolloutStore keeps each model's rollout.
type RolloutStore interface {
	// Rollout returns model's running or last rollout; ENOTFOUND when it
	// never had one (or the model does not exist).
	Rollout(ctx context.Context, model string) (Rollout, error)
	// StartRollout starts r, or changes the running rollout of the same
	// candidate (mode, percent, guard). ENOTFOUND for an unknown model or
	// candidate; EINVALID when the candidate serves or the model has no
	// serving version; ECONFLICT while a rollout of another candidate runs.
	// changed is false when r started.
	StartRollout(ctx context.Context, r Rollout) (out Rollout, changed bool, err error)
	// EndRollout aborts model's running rollout with reason; by the guard
	// when guard is set. ENOTFOUND when none runs.
	EndRollout(ctx context.Context, model, reason string, guard bool) (Rollout, error)
}

var _ RolloutStore = (*SQLStore)(nil)

type ifMatchKey struct{}

// WithIfMatch returns ctx carrying the revisions of a model the caller
// accepts (what it last saw): the changes of that model made with the
// returned context fail with EPRECONDITION unless the model is at one of
// them; with none, they always fail.
func WithIfMatch(ctx context.Context, revisions ...int64) context.Context {
	if revisions == nil {
		revisions = []int64{}
	}
	return context.WithValue(ctx, ifMatchKey{}, revisions)
}

// modelState is what a change of a model reads first, within its
// transaction.
type modelState struct {
	serving  int // 0 for none
	revision int64
}

// lockModel reads a model's state within tx and checks ctx's If-Match
// against its revision.
func lockModel(ctx context.Context, tx *sql.Tx, name string) (modelState, error) {
	var st modelState
	var serving sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT serving_version, revision FROM models WHERE name = $1`, name).Scan(&serving, &st.revision)
	if errors.Is(err, sql.ErrNoRows) {
		return st, Errorf(ENOTFOUND, "no model named %q", name)
	}
	if err != nil {
		return st, fmt.Errorf("registry: read model: %w", err)
	}
	st.serving = int(serving.Int64)
	if want, ok := ctx.Value(ifMatchKey{}).([]int64); ok && !slices.Contains(want, st.revision) {
		return st, Errorf(EPRECONDITION, "model %s changed since it was read (If-Match names %s, it is at revision %d); read it again and retry", name, revisionList(want), st.revision)
	}
	return st, nil
}

// revisionList describes the revisions of an If-Match.
func revisionList(revs []int64) string {
	if len(revs) == 0 {
		return "no revision"
	}
	out := "revision"
	for i, r := range revs {
		if i > 0 {
			out += ","
		}
		out += " " + strconv.FormatInt(r, 10)
	}
	return out
}

// bumpRevision moves a model's revision on within tx.
func bumpRevision(ctx context.Context, tx *sql.Tx, name string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE models SET revision = revision + 1 WHERE name = $1`, name); err != nil {
		return fmt.Errorf("registry: move revision: %w", err)
	}
	return nil
}

const rolloutColumns = `r.model, r.candidate, r.mode, r.percent, r.min_agreement, r.min_samples, r.min_live_f1, r.min_labels, r.status, r.reason,
	r.started_by, r.started_at, r.updated_at, r.ended_at, m.revision`

func scanRollout(row interface{ Scan(...any) error }) (Rollout, error) {
	var r Rollout
	var minAgreement, minLiveF1 sql.NullFloat64
	var started, updated int64
	var ended sql.NullInt64
	if err := row.Scan(&r.Model, &r.Candidate, &r.Mode, &r.Percent, &minAgreement, &r.MinSamples, &minLiveF1, &r.MinLabels, &r.Status, &r.Reason,
		&r.StartedBy, &started, &updated, &ended, &r.Revision); err != nil {
		return Rollout{}, err
	}
	if minAgreement.Valid {
		r.MinAgreement = &minAgreement.Float64
	}
	if minLiveF1.Valid {
		r.MinLiveF1 = &minLiveF1.Float64
	}
	r.StartedAt, r.UpdatedAt = time.Unix(0, started).UTC(), time.Unix(0, updated).UTC()
	if ended.Valid {
		t := time.Unix(0, ended.Int64).UTC()
		r.EndedAt = &t
	}
	return r, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readRollout(ctx context.Context, q querier, model string) (Rollout, error) {
	r, err := scanRollout(q.QueryRowContext(ctx, `SELECT `+rolloutColumns+` FROM rollouts r JOIN models m ON m.name = r.model WHERE r.model = $1`, model))
	if errors.Is(err, sql.ErrNoRows) {
		return Rollout{}, Errorf(ENOTFOUND, "model %q has no rollout", model)
	}
	if err != nil {
		return Rollout{}, fmt.Errorf("registry: read rollout: %w", err)
	}
	return r, nil
}

// Rollout implements RolloutStore.
func (s *SQLStore) Rollout(ctx context.Context, model string) (Rollout, error) {
	return readRollout(ctx, s.db, model)
}

// StartRollout implements RolloutStore.
func (s *SQLStore) StartRollout(ctx context.Context, r Rollout) (Rollout, bool, error) {
	var out Rollout
	var changed bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		changed = false
		st, err := lockModel(ctx, tx, r.Model)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions WHERE model = $1 AND version = $2`, r.Model, r.Candidate).Scan(&n); err != nil {
			return fmt.Errorf("registry: start rollout: %w", err)
		}
		switch {
		case n == 0:
			return Errorf(ENOTFOUND, "model %q has no version %d to roll out", r.Model, r.Candidate)
		case st.serving == 0:
			return Errorf(EINVALID, "model %s has no serving version to roll out beside", r.Model)
		case st.serving == r.Candidate:
			return Errorf(EINVALID, "version %d of %s already serves; a rollout tries another version", r.Candidate, r.Model)
		}
		old, err := readRollout(ctx, tx, r.Model)
		if err != nil && ErrorCode(err) != ENOTFOUND {
			return err
		}
		now := time.Now().UTC()
		actor := ActorFrom(ctx).User
		var minAgreement, minLiveF1 sql.NullFloat64
		if r.MinAgreement != nil {
			minAgreement = sql.NullFloat64{Float64: *r.MinAgreement, Valid: true}
		}
		if r.MinLiveF1 != nil {
			minLiveF1 = sql.NullFloat64{Float64: *r.MinLiveF1, Valid: true}
		}
		if r.MinSamples <= 0 {
			r.MinSamples = DefaultGuardMinSamples
		}
		if r.MinLabels <= 0 {
			r.MinLabels = DefaultGuardMinLabels
		}
		if old.Active() {
			if old.Candidate != r.Candidate {
				return Errorf(ECONFLICT, "a rollout of version %d of %s runs; abort it (DELETE the rollout) or promote it before starting another", old.Candidate, r.Model)
			}
			changed = true
			if _, err := tx.ExecContext(ctx, `UPDATE rollouts SET mode = $1, percent = $2, min_agreement = $3, min_samples = $4, min_live_f1 = $5, min_labels = $6, updated_at = $7 WHERE model = $8`,
				r.Mode, r.Percent, minAgreement, r.MinSamples, minLiveF1, r.MinLabels, now.UnixNano(), r.Model); err != nil {
				return fmt.Errorf("registry: change rollout: %w", err)
			}
		} else {
			if _, err := tx.ExecContext(ctx, `DELETE FROM rollouts WHERE model = $1`, r.Model); err != nil {
				return fmt.Errorf("registry: start rollout: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO rollouts (model, candidate, mode, percent, min_agreement, min_samples, min_live_f1, min_labels, status, reason, started_by, started_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '', $10, $11, $11)`,
				r.Model, r.Candidate, r.Mode, r.Percent, minAgreement, r.MinSamples, minLiveF1, r.MinLabels, RolloutActive, actor, now.UnixNano()); err != nil {
				return fmt.Errorf("registry: start rollout: %w", err)
			}
		}
		if err := bumpRevision(ctx, tx, r.Model); err != nil {
			return err
		}
		if out, err = readRollout(ctx, tx, r.Model); err != nil {
			return err
		}
		action, from := ActionRolloutStart, ""
		if changed {
			action, from = ActionRolloutChange, old.String()
		}
		if err := s.audit(ctx, tx, action, RolloutResource(r.Model), from, out.String()); err != nil {
			return err
		}
		return s.announceServing(ctx, tx, r.Model)
	})
	return out, changed, err
}

// EndRollout implements RolloutStore.
func (s *SQLStore) EndRollout(ctx context.Context, model, reason string, guard bool) (Rollout, error) {
	var out Rollout
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := lockModel(ctx, tx, model); err != nil {
			return err
		}
		old, err := readRollout(ctx, tx, model)
		if err != nil {
			return err
		}
		if !old.Active() {
			return Errorf(ENOTFOUND, "model %q has no rollout running (the last one was %s: %s)", model, old.Status, old.Reason)
		}
		if err := endRollout(ctx, tx, model, RolloutAborted, reason); err != nil {
			return err
		}
		if out, err = readRollout(ctx, tx, model); err != nil {
			return err
		}
		action := ActionRolloutAbort
		ev := AuditEvent{Action: action, Resource: RolloutResource(model), From: old.String(), To: "aborted: " + reason}
		if guard {
			ev.Action, ev.Actor, ev.RequestID = ActionRolloutGuard, ActorGuard, "-"
		}
		if err := s.RecordAudit(ctx, tx, ev); err != nil {
			return err
		}
		return s.announceServing(ctx, tx, model)
	})
	return out, err
}

// endRollout marks model's running rollout ended with status and reason,
// and moves the model's revision on, within tx.
func endRollout(ctx context.Context, tx *sql.Tx, model, status, reason string) error {
	now := time.Now().UTC().UnixNano()
	if _, err := tx.ExecContext(ctx, `UPDATE rollouts SET status = $1, reason = $2, updated_at = $3, ended_at = $3 WHERE model = $4`,
		status, clip(reason), now, model); err != nil {
		return fmt.Errorf("registry: end rollout: %w", err)
	}
	return bumpRevision(ctx, tx, model)
}
