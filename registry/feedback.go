package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Feedback is the true tag a client sent for one prediction.
type Feedback struct {
	// PredictionID is the id the prediction came with; one feedback is
	// kept per id.
	PredictionID string
	// Model and Version made the prediction; PredictedTag is its tag and
	// PredictedAt its time (all read from the id).
	Model        string
	Version      int
	PredictedTag string
	PredictedAt  time.Time
	// Tag is the true tag.
	Tag        string
	ReceivedAt time.Time
}

// FeedbackOutcome is what SaveFeedback did with one feedback.
type FeedbackOutcome int

// Outcomes of SaveFeedback.
const (
	// FeedbackAdded: stored now.
	FeedbackAdded FeedbackOutcome = iota + 1
	// FeedbackRepeated: the prediction had this very tag already: nothing
	// changed (a retry).
	FeedbackRepeated
	// FeedbackConflict: the prediction had another tag already, which
	// stays: the first feedback wins.
	FeedbackConflict
	// FeedbackVersionGone: the version that made the prediction is not in
	// the registry (deleted): nothing stored.
	FeedbackVersionGone
)

// FeedbackCount is how many feedback labels pair a predicted tag with a
// true one.
type FeedbackCount struct {
	PredictedTag, Tag string
	N                 int
}

// FeedbackStore keeps the keys servers sign with and the feedback on
// predictions. SQLStore implements it.
type FeedbackStore interface {
	// SigningKey returns the key stored under name, storing candidate
	// under it first when there is none: every store on one database
	// returns the same key, whichever asked first.
	SigningKey(ctx context.Context, name string, candidate []byte) ([]byte, error)
	// SaveFeedback stores each feedback unless its prediction id has one
	// already, in one transaction, and says what it did with each
	// (aligned with fb). The ids in fb must be distinct.
	SaveFeedback(ctx context.Context, fb []Feedback) ([]FeedbackOutcome, error)
	// FeedbackCounts counts the feedback on predictions of model's version
	// made at or after since, by predicted and true tag. A prediction's time
	// is known to the second (its id says no more), so since counts from
	// the start of its second.
	FeedbackCounts(ctx context.Context, model string, version int, since time.Time) ([]FeedbackCount, error)
}

var _ FeedbackStore = (*SQLStore)(nil)

// SigningKey implements FeedbackStore.
func (s *SQLStore) SigningKey(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	var key []byte
	// Read first: once the key exists, a replica that starts writes
	// nothing.
	err := s.db.QueryRowContext(ctx, `SELECT secret FROM server_keys WHERE name = $1`, name).Scan(&key)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("registry: signing key: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO server_keys (name, secret, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO NOTHING`, name, candidate, time.Now().UnixNano()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT secret FROM server_keys WHERE name = $1`, name).Scan(&key)
	})
	if err != nil {
		return nil, fmt.Errorf("registry: signing key: %w", err)
	}
	return key, nil
}

// feedbackRows is how many feedback rows one statement carries (7
// parameters each).
const feedbackRows = 100

// SaveFeedback implements FeedbackStore.
func (s *SQLStore) SaveFeedback(ctx context.Context, fb []Feedback) ([]FeedbackOutcome, error) {
	out := make([]FeedbackOutcome, len(fb))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		clear(out)
		type key struct {
			model   string
			version int
		}
		exists := map[key]bool{}
		var todo []int // indices into fb of feedback on existing versions
		for i, f := range fb {
			k := key{f.Model, f.Version}
			ok, seen := exists[k]
			if !seen {
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions WHERE model = $1 AND version = $2`, f.Model, f.Version).Scan(&n); err != nil {
					return err
				}
				ok = n > 0
				exists[k] = ok
			}
			if !ok {
				out[i] = FeedbackVersionGone
				continue
			}
			todo = append(todo, i)
		}
		for start := 0; start < len(todo); start += feedbackRows {
			part := todo[start:min(start+feedbackRows, len(todo))]
			if err := s.insertFeedback(ctx, tx, fb, part, out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: save feedback: %w", err)
	}
	return out, nil
}

// insertFeedback inserts fb[i] for i in part, and sets out[i] for each:
// added, or, for an id stored before, repeated or conflict.
func (s *SQLStore) insertFeedback(ctx context.Context, tx *sql.Tx, fb []Feedback, part []int, out []FeedbackOutcome) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO feedback (prediction_id, model, version, predicted_tag, tag, predicted_at, received_at) VALUES `)
	args := make([]any, 0, 7*len(part))
	byID := make(map[string]int, len(part))
	for n, i := range part {
		f := fb[i]
		if n > 0 {
			q.WriteString(", ")
		}
		k := 7 * n
		fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", k+1, k+2, k+3, k+4, k+5, k+6, k+7)
		args = append(args, f.PredictionID, f.Model, f.Version, f.PredictedTag, f.Tag, f.PredictedAt.UnixNano(), f.ReceivedAt.UnixNano())
		byID[f.PredictionID] = i
	}
	q.WriteString(` ON CONFLICT (prediction_id) DO NOTHING RETURNING prediction_id`)
	rows, err := tx.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		if i, ok := byID[id]; ok {
			out[i] = FeedbackAdded
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// The others were stored before: the same tag or another?
	var ids []any
	var marks []string
	for _, i := range part {
		if out[i] == 0 {
			ids = append(ids, fb[i].PredictionID)
			marks = append(marks, fmt.Sprintf("$%d", len(ids)))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err = tx.QueryContext(ctx, `SELECT prediction_id, tag FROM feedback WHERE prediction_id IN (`+strings.Join(marks, ", ")+`)`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, tag string
		if err := rows.Scan(&id, &tag); err != nil {
			return err
		}
		i, ok := byID[id]
		if !ok || out[i] != 0 {
			continue
		}
		out[i] = FeedbackConflict
		if tag == fb[i].Tag {
			out[i] = FeedbackRepeated
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, i := range part {
		if out[i] == 0 {
			return errors.New("an id was neither inserted nor found")
		}
	}
	return nil
}

// FeedbackCounts implements FeedbackStore.
func (s *SQLStore) FeedbackCounts(ctx context.Context, model string, version int, since time.Time) ([]FeedbackCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT predicted_tag, tag, COUNT(*) FROM feedback
		WHERE model = $1 AND version = $2 AND predicted_at >= $3 GROUP BY predicted_tag, tag ORDER BY predicted_tag, tag`,
		model, version, since.Truncate(time.Second).UnixNano())
	if err != nil {
		return nil, fmt.Errorf("registry: count feedback: %w", err)
	}
	defer rows.Close()
	var out []FeedbackCount
	for rows.Next() {
		var c FeedbackCount
		if err := rows.Scan(&c.PredictedTag, &c.Tag, &c.N); err != nil {
			return nil, fmt.Errorf("registry: count feedback: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
