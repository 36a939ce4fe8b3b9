package registry

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// actions returns the actions of events, in their order.
func actions(events []AuditEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Action
	}
	return out
}

// TestStoreAuditTrail: every management action a store makes records one event,
// in its own transaction, with who, what, from and to; the listing is
// newest first, filters by resource (and what is under it) and by actor,
// and pages with a cursor. A refused action records nothing.
func TestStoreAuditTrail(t *testing.T) {
	t.Parallel()
	for name, open := range storeFactories(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			alice := WithActor(context.Background(), Actor{User: "alice", RequestID: "req-1"})
			bob := WithActor(context.Background(), Actor{User: "bob", RequestID: "req-2"})

			require.NoError(t, s.CreateVersion(alice, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
			require.NoError(t, s.CreateVersion(alice, testVersion("tagifai", 2, "bbb"), testArtifact("tagifai", 2, "bbb")))
			require.NoError(t, s.SetServing(bob, "tagifai", 2))
			require.NoError(t, s.SetServing(bob, "tagifai", 1))
			// Refused: nothing recorded.
			assert.Equal(t, ECONFLICT, ErrorCode(s.DeleteVersion(bob, "tagifai", 1)))
			assert.Equal(t, ENOTFOUND, ErrorCode(s.SetServing(bob, "tagifai", 9)))
			require.NoError(t, s.DeleteVersion(bob, "tagifai", 2))
			_, err := s.CreateUser(alice, User{Name: "ci-bot", Role: RolePredictor, CreatedAt: time.Now()}, "hash-1")
			require.NoError(t, err)
			_, err = s.RevokeUser(context.Background(), "ci-bot")
			require.NoError(t, err)
			job := Job{ID: "5f0c9a7e2b1d4c38", Model: "tagifai", Version: 1, Status: JobQueued, Total: 1, CreatedBy: "bob", CreatedAt: time.Now()}
			_, _, err = s.CreateJob(bob, job, []Item{{ID: "x", Text: "t"}}, func(context.Context, *sql.Tx, Job) error { return nil })
			require.NoError(t, err)
			_, err = s.DeleteJob(bob, job.ID, nil)
			require.NoError(t, err)

			all, err := s.AuditEvents(context.Background(), AuditFilter{})
			require.NoError(t, err)
			assert.Equal(t, []string{
				ActionBatchJobCancel, ActionBatchJobCreate, ActionUserRevoke, ActionUserCreate, ActionVersionDelete,
				ActionRollback, ActionDeploy, ActionVersionUpload, ActionVersionUpload,
			}, actions(all))
			for i := 1; i < len(all); i++ {
				assert.Greater(t, all[i-1].ID, all[i].ID, "newest first")
			}
			rollback := all[5]
			assert.Equal(t, AuditEvent{ID: rollback.ID, At: rollback.At, Actor: "bob", Action: ActionRollback,
				Resource: "models/tagifai", From: "2", To: "1", RequestID: "req-2"}, rollback)
			assert.WithinDuration(t, time.Now(), rollback.At, time.Minute)
			assert.Equal(t, "cli", all[2].Actor, "no actor in the context")
			assert.Equal(t, "sha256 bbb", all[4].From)
			assert.Equal(t, "models/tagifai/versions/2", all[4].Resource)

			byResource, err := s.AuditEvents(context.Background(), AuditFilter{Resource: "models/tagifai"})
			require.NoError(t, err)
			assert.Equal(t, []string{ActionVersionDelete, ActionRollback, ActionDeploy, ActionVersionUpload, ActionVersionUpload}, actions(byResource))
			exact, err := s.AuditEvents(context.Background(), AuditFilter{Resource: "models/tagifai/versions/1"})
			require.NoError(t, err)
			assert.Equal(t, []string{ActionVersionUpload}, actions(exact))
			none, err := s.AuditEvents(context.Background(), AuditFilter{Resource: "models/tagif"})
			require.NoError(t, err)
			assert.Empty(t, none, "a resource filter matches whole path segments")

			byActor, err := s.AuditEvents(context.Background(), AuditFilter{Actor: "alice"})
			require.NoError(t, err)
			assert.Equal(t, []string{ActionUserCreate, ActionVersionUpload, ActionVersionUpload}, actions(byActor))

			var paged []AuditEvent
			f := AuditFilter{Limit: 4}
			for {
				page, err := s.AuditEvents(context.Background(), f)
				require.NoError(t, err)
				if len(page) == 0 {
					break
				}
				paged = append(paged, page...)
				f.Before = page[len(page)-1].ID
			}
			assert.Equal(t, all, paged)
		})
	}
}

// TestStoreRollouts: a rollout starts beside a serving version, changes,
// refuses a second candidate, blocks deploying or deleting around it, and
// ends by abort or by promotion, each change recorded and moving the
// model's revision on; If-Match refuses a change to a model that moved.
func TestStoreRollouts(t *testing.T) {
	t.Parallel()
	for name, open := range storeFactories(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			ctx := WithActor(context.Background(), Actor{User: "alice"})
			for v, sum := range map[int]string{1: "aaa", 2: "bbb", 3: "ccc"} {
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", v, sum), testArtifact("tagifai", v, sum)))
			}
			_, _, err := s.StartRollout(ctx, Rollout{Model: "tagifai", Candidate: 2, Mode: ModeShadow, Percent: 100})
			assert.Equal(t, EINVALID, ErrorCode(err), "no serving version yet")
			require.NoError(t, s.SetServing(ctx, "tagifai", 1))

			_, err = s.Rollout(ctx, "tagifai")
			assert.Equal(t, ENOTFOUND, ErrorCode(err))
			for _, tc := range []struct {
				name string
				r    Rollout
				code string
			}{
				{"unknown model", Rollout{Model: "nope", Candidate: 2, Mode: ModeShadow}, ENOTFOUND},
				{"unknown candidate", Rollout{Model: "tagifai", Candidate: 9, Mode: ModeShadow}, ENOTFOUND},
				{"candidate serves", Rollout{Model: "tagifai", Candidate: 1, Mode: ModeShadow}, EINVALID},
			} {
				_, _, err := s.StartRollout(ctx, tc.r)
				assert.Equal(t, tc.code, ErrorCode(err), tc.name)
			}

			m, err := s.Model(ctx, "tagifai")
			require.NoError(t, err)
			before := m.Revision
			agreement := 0.9
			r, changed, err := s.StartRollout(ctx, Rollout{Model: "tagifai", Candidate: 2, Mode: ModeShadow, Percent: 100, MinAgreement: &agreement})
			require.NoError(t, err)
			assert.False(t, changed)
			assert.True(t, r.Active())
			assert.Equal(t, "alice", r.StartedBy)
			assert.Equal(t, DefaultGuardMinSamples, r.MinSamples)
			assert.Greater(t, r.Revision, before)

			_, _, err = s.StartRollout(ctx, Rollout{Model: "tagifai", Candidate: 3, Mode: ModeCanary, Percent: 10})
			assert.Equal(t, ECONFLICT, ErrorCode(err), "a second rollout")
			assert.Equal(t, ECONFLICT, ErrorCode(s.SetServing(ctx, "tagifai", 3)), "deploying another version")
			assert.Equal(t, ECONFLICT, ErrorCode(s.DeleteVersion(ctx, "tagifai", 2)), "deleting the candidate")
			require.NoError(t, s.SetServing(ctx, "tagifai", 1), "serving the serving version again")

			stale := WithIfMatch(ctx, r.Revision)
			cur, err := s.Rollout(ctx, "tagifai")
			require.NoError(t, err)
			liveF1 := 0.8
			r2, changed, err := s.StartRollout(WithIfMatch(ctx, cur.Revision), Rollout{Model: "tagifai", Candidate: 2, Mode: ModeCanary, Percent: 20, MinLiveF1: &liveF1})
			require.NoError(t, err)
			assert.True(t, changed)
			assert.Equal(t, ModeCanary, r2.Mode)
			assert.Nil(t, r2.MinAgreement)
			require.NotNil(t, r2.MinLiveF1)
			assert.Equal(t, 0.8, *r2.MinLiveF1)
			assert.Equal(t, DefaultGuardMinLabels, r2.MinLabels)
			assert.Equal(t, "canary of version 2 at 20%, guard: live F1 >= 0.8", r2.String())
			assert.Equal(t, r.StartedAt, r2.StartedAt)
			_, err = s.EndRollout(WithIfMatch(ctx, cur.Revision), "tagifai", "stop", false)
			assert.Equal(t, EPRECONDITION, ErrorCode(err), "a stale If-Match")
			assert.Equal(t, EPRECONDITION, ErrorCode(s.SetServing(stale, "tagifai", 2)))
			assert.Equal(t, EPRECONDITION, ErrorCode(s.DeleteVersion(stale, "tagifai", 3)))

			ended, err := s.EndRollout(WithIfMatch(ctx, r2.Revision), "tagifai", "agreement too low", false)
			require.NoError(t, err)
			assert.Equal(t, RolloutAborted, ended.Status)
			assert.Equal(t, "agreement too low", ended.Reason)
			assert.NotNil(t, ended.EndedAt)
			_, err = s.EndRollout(ctx, "tagifai", "again", false)
			assert.Equal(t, ENOTFOUND, ErrorCode(err))

			// A new rollout after the last ended; the guard ends it.
			_, _, err = s.StartRollout(ctx, Rollout{Model: "tagifai", Candidate: 3, Mode: ModeShadow, Percent: 50})
			require.NoError(t, err)
			guarded, err := s.EndRollout(ctx, "tagifai", "agreement 0.5 < 0.9 after 100 predictions", true)
			require.NoError(t, err)
			assert.Equal(t, RolloutAborted, guarded.Status)

			// Promotion: serving the candidate ends the rollout.
			_, _, err = s.StartRollout(ctx, Rollout{Model: "tagifai", Candidate: 3, Mode: ModeCanary, Percent: 20})
			require.NoError(t, err)
			require.NoError(t, s.SetServing(ctx, "tagifai", 3))
			promoted, err := s.Rollout(ctx, "tagifai")
			require.NoError(t, err)
			assert.Equal(t, RolloutPromoted, promoted.Status)
			m, err = s.Model(ctx, "tagifai")
			require.NoError(t, err)
			assert.Equal(t, 3, m.ServingVersion)
			assert.Equal(t, promoted.Revision, m.Revision)

			events, err := s.AuditEvents(ctx, AuditFilter{Resource: "models/tagifai/rollout"})
			require.NoError(t, err)
			assert.Equal(t, []string{ActionRolloutPromote, ActionRolloutStart, ActionRolloutGuard, ActionRolloutStart,
				ActionRolloutAbort, ActionRolloutChange, ActionRolloutStart}, actions(events))
			assert.Equal(t, "guard", events[2].Actor)
			assert.Equal(t, "shadow of version 2 at 100%, guard: agreement >= 0.9", events[5].From)
			assert.Equal(t, "canary of version 2 at 20%, guard: live F1 >= 0.8", events[5].To)
		})
	}
}
