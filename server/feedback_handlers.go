package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tagifai/tagifai/feedback"
	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
)

// PredictionIDTTL is how long after a prediction its feedback is
// accepted.
const PredictionIDTTL = 30 * 24 * time.Hour

// predictionIDKey names the key of prediction ids in the registry.
const predictionIDKey = "prediction-id"

// newSigner returns the signer of prediction ids of cfg: its key, or the
// registry's.
func newSigner(cfg Config) (*feedback.Signer, error) {
	key := cfg.PredictionIDKey
	if key == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		k, err := cfg.Store.SigningKey(ctx, predictionIDKey, feedback.NewKey())
		if err != nil {
			return nil, fmt.Errorf("server: the key of prediction ids: %w", err)
		}
		key = k
	}
	return feedback.NewSigner(key)
}

// tagIndex is what a prediction id carries of a tag: its index among
// classes, or len(classes) for the fallback's tag when it is not a class.
func tagIndex(classes []string, tag string) int {
	if i := slices.Index(classes, tag); i >= 0 {
		return i
	}
	return len(classes)
}

// tagAt is the inverse of tagIndex; false for an index out of range.
func tagAt(classes []string, i int) (string, bool) {
	switch {
	case i >= 0 && i < len(classes):
		return classes[i], true
	case i == len(classes) && !slices.Contains(classes, model.OtherTag):
		return model.OtherTag, true
	}
	return "", false
}

// predictionIDs returns the ids of preds, made by m with classes at at.
func (s *Server) predictionIDs(m *serving.Version, classes []string, preds []model.Prediction, at time.Time) []string {
	ids := make([]string, len(preds))
	nonce := s.ids.Nonces(len(preds))
	c := feedback.Claims{Model: m.Name, Version: m.Version, Time: at, Checksum: feedback.ChecksumPrefix(m.Checksum)}
	for i, p := range preds {
		c.Tag, c.Nonce = tagIndex(classes, p.Tag), nonce+uint64(i)
		ids[i] = s.ids.Issue(c)
	}
	return ids
}

// storedPredictionID is the id of a stored prediction p of a version whose
// artifact has checksum: always the same for the same stored prediction.
func (s *Server) storedPredictionID(p registry.StoredPrediction, checksum string) string {
	classes := make([]string, 0, len(p.Probabilities))
	for c := range p.Probabilities {
		classes = append(classes, c)
	}
	slices.Sort(classes) // a model's classes are sorted
	return s.ids.Issue(feedback.Claims{
		Model: p.Model, Version: p.Version, Tag: tagIndex(classes, p.Tag), Time: p.CreatedAt,
		Checksum: feedback.ChecksumPrefix(checksum), Nonce: feedback.ItemNonce(p.ItemID),
	})
}

// feedbackVersion is what feedback needs of a version.
type feedbackVersion struct {
	exists   bool
	classes  []string
	checksum [4]byte
}

// tags are the true tags feedback on v's predictions may give: its
// classes and the fallback's tag.
func (v *feedbackVersion) tags() []string {
	if slices.Contains(v.classes, model.OtherTag) {
		return v.classes
	}
	return append(slices.Clone(v.classes), model.OtherTag)
}

// SendFeedback implements POST /feedback.
func (s *Server) SendFeedback(ctx context.Context, req gen.SendFeedbackRequestObject) (gen.SendFeedbackResponseObject, error) {
	items := req.Body.Items
	results := make([]gen.FeedbackResult, len(items))
	refuse := func(i int, status gen.FeedbackStatus, msg string) {
		results[i].Status, results[i].Message = status, &msg
	}
	now := time.Now()
	seen := make(map[string]struct{}, len(items))
	versions := map[string]*feedbackVersion{}
	var fb []registry.Feedback
	var at []int // index in items of each of fb
	for i, it := range items {
		results[i].Index = i
		if _, dup := seen[it.PredictionId]; dup {
			refuse(i, gen.FeedbackStatusDuplicate, "this prediction id appears earlier in the request; only its first valid item counts")
			continue
		}
		c, err := s.ids.Parse(it.PredictionId)
		if err != nil {
			refuse(i, gen.FeedbackStatusInvalidId, "not a prediction id this server issued")
			continue
		}
		if now.Sub(c.Time) > PredictionIDTTL {
			refuse(i, gen.FeedbackStatusExpired, fmt.Sprintf("the prediction was made on %s; feedback is accepted for %d days", c.Time.Format(time.DateOnly), PredictionIDTTL/(24*time.Hour)))
			continue
		}
		key := fmt.Sprintf("%s/%d", c.Model, c.Version)
		v, ok := versions[key]
		if !ok {
			rv, err := s.store.Version(ctx, c.Model, c.Version)
			switch {
			case err == nil:
				v = &feedbackVersion{exists: true, classes: rv.Classes, checksum: feedback.ChecksumPrefix(rv.Checksum)}
			case registry.ErrorCode(err) == registry.ENOTFOUND:
				v = &feedbackVersion{}
			default:
				return nil, err
			}
			versions[key] = v
		}
		if !v.exists {
			refuse(i, gen.FeedbackStatusUnknownVersion, fmt.Sprintf("version %d of %s, which made the prediction, is no longer in the registry", c.Version, c.Model))
			continue
		}
		if v.checksum != c.Checksum {
			refuse(i, gen.FeedbackStatusUnknownVersion, fmt.Sprintf("version %d of %s, which made the prediction, was deleted and uploaded again with other bytes", c.Version, c.Model))
			continue
		}
		predicted, ok := tagAt(v.classes, c.Tag)
		if !ok {
			refuse(i, gen.FeedbackStatusInvalidId, "not a prediction id this server issued")
			continue
		}
		if it.Tag != model.OtherTag && !slices.Contains(v.classes, it.Tag) {
			refuse(i, gen.FeedbackStatusUnknownTag, "the tag must be one of "+strings.Join(v.tags(), ", "))
			continue
		}
		// Only an item that counts takes its id: a later item may correct
		// one refused (an unknown tag, say).
		seen[it.PredictionId] = struct{}{}
		fb = append(fb, registry.Feedback{
			PredictionID: it.PredictionId, Model: c.Model, Version: c.Version, PredictedTag: predicted,
			PredictedAt: c.Time, Tag: it.Tag, ReceivedAt: now,
		})
		at = append(at, i)
	}
	outcomes, err := s.store.SaveFeedback(ctx, fb)
	if err != nil {
		return nil, err
	}
	accepted := 0
	for k, o := range outcomes {
		i := at[k]
		switch o {
		case registry.FeedbackAdded:
			results[i].Status = gen.FeedbackStatusAccepted
			accepted++
		case registry.FeedbackRepeated:
			results[i].Status = gen.FeedbackStatusAlreadyRecorded
		case registry.FeedbackConflict:
			refuse(i, gen.FeedbackStatusConflict, "this prediction has feedback with another tag already; the first stays")
		default:
			refuse(i, gen.FeedbackStatusUnknownVersion, fmt.Sprintf("version %d of %s, which made the prediction, is no longer in the registry", fb[k].Version, fb[k].Model))
		}
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.SendFeedback200JSONResponse{
		Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url,
		Data: gen.FeedbackResults{Accepted: accepted, Results: results},
	}, nil
}
