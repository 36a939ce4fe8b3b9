package registry

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Actions recorded in the audit trail.
const (
	ActionVersionUpload    = "version.upload"
	ActionVersionDelete    = "version.delete"
	ActionDeploy           = "serving.deploy"
	ActionRollback         = "serving.rollback"
	ActionRolloutStart     = "rollout.start"
	ActionRolloutChange    = "rollout.change"
	ActionRolloutAbort     = "rollout.abort"
	ActionRolloutGuard     = "rollout.guard_abort"
	ActionRolloutPromote   = "rollout.promote"
	ActionUserCreate       = "user.create"
	ActionUserRevoke       = "user.revoke"
	ActionBatchJobCreate   = "batch_job.create"
	ActionBatchJobCancel   = "batch_job.cancel"
	maxAuditFieldBytes     = 256
	defaultActor           = ActorCLI
	maxAuditEventsPerQuery = 500
)

// Actors the server and the command line write into the audit trail, a
// version's uploader and the logs for changes that no user made. No user
// may have one of these names (see ReservedUserName), so that none of them
// is ever a person.
const (
	// ActorAnonymous makes the changes of a request without a key.
	ActorAnonymous = "anonymous"
	// ActorCLI makes the changes of the command line.
	ActorCLI = "cli"
	// ActorGuard aborts a rollout for its guard.
	ActorGuard = "guard"
	// ActorServe uploads the versions `tagifai serve` imports.
	ActorServe = "tagifai-serve"
	// ActorBatch uploads the version `tagifai batch` imports and creates
	// its jobs.
	ActorBatch = "tagifai-batch"
)

// ReservedUserName reports whether name, in any case, is one of the
// actors above, which no user may be named.
func ReservedUserName(name string) bool {
	for _, a := range []string{ActorAnonymous, ActorCLI, ActorGuard, ActorServe, ActorBatch} {
		if strings.EqualFold(name, a) {
			return true
		}
	}
	return false
}

// AuditEvent is one management action, as the audit trail records it.
type AuditEvent struct {
	// ID orders the events: a later commit of the same database has a
	// larger one, save for transactions that run at once on PostgreSQL.
	ID int64
	At time.Time
	// Actor is the user's name ("anonymous" for a request without a key,
	// "cli" for the command line, "guard" for a rollout's guard); never
	// a key.
	Actor string
	// Action is one of the Action constants.
	Action string
	// Resource names what changed: "models/tagifai",
	// "models/tagifai/versions/2", "models/tagifai/rollout",
	// "users/ci-bot", "batch-jobs/5f0c9a7e2b1d4c38".
	Resource string
	// From and To say what the resource was before and after, in a few
	// words ("2", "shadow of version 3 at 100%"); "" when nothing.
	From, To string
	// RequestID is the X-Request-ID of the request that made the change;
	// "" outside of a request.
	RequestID string
}

// Actor is who makes the changes of a context, and under which request.
type Actor struct {
	User      string
	RequestID string
}

type actorKey struct{}

// WithActor returns ctx carrying a: the store records a as the actor of
// every change made with the returned context. Without it, changes are
// recorded as made by "cli".
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, with User "cli" when none.
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	if a.User == "" {
		a.User = defaultActor
	}
	return a
}

// AuditFilter selects audit events.
type AuditFilter struct {
	// Resource keeps the events of this resource and of those under it
	// ("models/tagifai" keeps "models/tagifai/versions/2"); "" for all.
	Resource string
	// Actor keeps the events of this user; "" for all.
	Actor string
	// Before keeps the events older than this id (a cursor); 0 for the
	// newest.
	Before int64
	// Limit bounds how many are returned; at most 500.
	Limit int
}

// AuditStore keeps the audit trail.
type AuditStore interface {
	// AuditEvents lists events, newest first.
	AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// RecordAudit records e within tx, the transaction of the action it
	// records, so that both commit or neither does. A zero At is now;
	// an empty Actor or RequestID comes from ctx (WithActor).
	RecordAudit(ctx context.Context, tx *sql.Tx, e AuditEvent) error
}

var _ AuditStore = (*SQLStore)(nil)

// clip bounds a recorded field.
func clip(s string) string {
	if len(s) > maxAuditFieldBytes {
		return s[:maxAuditFieldBytes]
	}
	return s
}

// RecordAudit implements AuditStore.
func (s *SQLStore) RecordAudit(ctx context.Context, tx *sql.Tx, e AuditEvent) error {
	a := ActorFrom(ctx)
	if e.Actor == "" {
		e.Actor = a.User
	}
	if e.RequestID == "" {
		e.RequestID = a.RequestID
	}
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_events (at, actor, action, resource, from_value, to_value, request_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.At.UnixNano(), clip(e.Actor), clip(e.Action), clip(e.Resource), clip(e.From), clip(e.To), clip(e.RequestID))
	if err != nil {
		return fmt.Errorf("registry: record audit event: %w", err)
	}
	return nil
}

// audit records an action of ctx's actor within tx.
func (s *SQLStore) audit(ctx context.Context, tx *sql.Tx, action, resource, from, to string) error {
	return s.RecordAudit(ctx, tx, AuditEvent{Action: action, Resource: resource, From: from, To: to})
}

// AuditEvents implements AuditStore.
func (s *SQLStore) AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	if f.Limit <= 0 || f.Limit > maxAuditEventsPerQuery {
		f.Limit = maxAuditEventsPerQuery
	}
	q := `SELECT id, at, actor, action, resource, from_value, to_value, request_id FROM audit_events WHERE 1 = 1`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Resource != "" {
		// A prefix compared by substr, not LIKE, so that no character of
		// the filter is a wildcard.
		q += ` AND (resource = ` + arg(f.Resource) + ` OR substr(resource, 1, ` + arg(len(f.Resource)+1) + `) = ` + arg(f.Resource+"/") + `)`
	}
	if f.Actor != "" {
		q += ` AND actor = ` + arg(f.Actor)
	}
	if f.Before > 0 {
		q += ` AND id < ` + arg(f.Before)
	}
	q += ` ORDER BY id DESC LIMIT ` + arg(f.Limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("registry: list audit events: %w", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var e AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Resource, &e.From, &e.To, &e.RequestID); err != nil {
			return nil, fmt.Errorf("registry: list audit events: %w", err)
		}
		e.At = time.Unix(0, at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// ModelResource names a model in the audit trail.
func ModelResource(model string) string { return "models/" + model }

// VersionResource names a version of a model in the audit trail.
func VersionResource(model string, v int) string {
	return "models/" + model + "/versions/" + strconv.Itoa(v)
}

// RolloutResource names a model's rollout in the audit trail.
func RolloutResource(model string) string { return "models/" + model + "/rollout" }

// UserResource names a user in the audit trail.
func UserResource(name string) string { return "users/" + name }

// JobResource names a batch job in the audit trail.
func JobResource(id string) string { return "batch-jobs/" + id }
