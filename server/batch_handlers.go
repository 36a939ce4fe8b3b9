package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tagifai/tagifai/batch"
	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/registry"
)

func toBatchJob(j registry.Job) gen.BatchJob {
	out := gen.BatchJob{
		Id: j.ID, Status: gen.BatchJobStatus(j.Status), Model: j.Model, Version: j.Version,
		Total: j.Total, Done: j.Done, Failed: j.Failed, CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
	}
	if j.Total > 0 {
		out.Progress = float64(j.Done) / float64(j.Total)
	}
	if j.Error != "" {
		out.Error = &j.Error
	}
	if len(j.Replicas) > 0 {
		rs := make([]gen.ReplicaCount, min(len(j.Replicas), maxReplicaCounts))
		for i := range rs {
			rs[i] = gen.ReplicaCount{Replica: j.Replicas[i].Replica, Items: j.Replicas[i].Items}
		}
		out.Replicas = &rs
	}
	return out
}

// maxReplicaCounts bounds the replica counts a job reports, as documented.
const maxReplicaCounts = 1000

// toStoredPrediction shapes p, made by a version whose artifact has
// checksum, for the API.
func (s *Server) toStoredPrediction(p registry.StoredPrediction, checksum string) gen.StoredPrediction {
	return gen.StoredPrediction{
		ItemId: p.ItemID, Model: p.Model, Version: p.Version, TextSha256: p.TextSHA256,
		PredictedTag: p.Tag, PredictedProbabilities: p.Probabilities, CreatedAt: p.CreatedAt,
		PredictionId: s.storedPredictionID(p, checksum),
	}
}

func newJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// CreateBatchJob implements POST /batch-jobs.
func (s *Server) CreateBatchJob(ctx context.Context, req gen.CreateBatchJobRequestObject) (gen.CreateBatchJobResponseObject, error) {
	var items []registry.Item
	var version *int
	if req.JSONBody != nil {
		items = make([]registry.Item, len(req.JSONBody.Items))
		var problems *Error
		addProblem := func(msg string, location ...string) {
			if problems == nil {
				problems = &Error{Status: http.StatusUnprocessableEntity}
			}
			if len(problems.Problems) < maxItemProblems {
				problems.Problems = append(problems.Problems, problemError(0, typeInvalid, msg, location...).Problems...)
			}
		}
		// A job stores one prediction per id: an id given again would
		// never be predicted. first bounds with the items (the schema's
		// maxItems) and shares their strings.
		first := make(map[string]int, len(req.JSONBody.Items))
		for i, it := range req.JSONBody.Items {
			items[i] = registry.Item{ID: it.Id, Text: it.Text}
			if j, ok := first[it.Id]; ok {
				addProblem(fmt.Sprintf("id %q repeats item %d; ids must be unique within a job", truncate(it.Id, 128), j),
					"body", "items", strconv.Itoa(i), "id")
			} else {
				first[it.Id] = i
			}
			for _, f := range []struct{ name, value string }{{"id", it.Id}, {"text", it.Text}} {
				if c, at, ok := batch.ControlChar(f.value); ok {
					addProblem(fmt.Sprintf("must not contain control character %U (at byte %d)", c, at), "body", "items", strconv.Itoa(i), f.name)
				}
			}
		}
		if problems != nil {
			return nil, problems
		}
		version = req.JSONBody.Version
	} else {
		var bad []*batch.RowError
		var err error
		items, bad, err = batch.ReadItems(req.Body, batch.MaxItems)
		var tooMany *batch.TooManyItemsError
		if errors.As(err, &tooMany) {
			return nil, problemError(http.StatusUnprocessableEntity, typeTooMany, err.Error(), "body", "line", strconv.Itoa(tooMany.Line))
		}
		if err != nil {
			return nil, problemError(http.StatusUnprocessableEntity, typeInvalid, strings.TrimPrefix(err.Error(), "batch: "), "body")
		}
		if len(bad) > 0 {
			problems := &Error{Status: http.StatusUnprocessableEntity}
			for _, b := range bad[:min(len(bad), maxItemProblems)] {
				problems.Problems = append(problems.Problems, problemError(0, typeInvalid, b.Error(), "body", "line", strconv.Itoa(b.Line)).Problems...)
			}
			return nil, problems
		}
		if len(items) == 0 {
			return nil, problemError(http.StatusUnprocessableEntity, typeTooFew, "the CSV file has no items", "body")
		}
		if err := checkItemIDs(items); err != nil {
			return nil, err
		}
	}

	v := 0
	if version != nil {
		v = *version
		if _, err := s.store.Version(ctx, s.modelName, v); err != nil {
			return nil, at(err, "body", "version")
		}
	} else if cur := s.serving.Current(); cur != nil {
		v = cur.Version
	} else {
		return nil, errNotReady
	}
	// An id the version has a prediction for, of another text, would get
	// that prediction back: stored predictions are not replaced.
	changed, err := s.store.ChangedItems(ctx, s.modelName, v, items)
	if err != nil {
		return nil, err
	}
	if len(changed) > 0 {
		problems := &Error{Status: http.StatusConflict}
		for _, i := range changed[:min(len(changed), maxItemProblems)] {
			problems.Problems = append(problems.Problems, problemError(0, typeConflict,
				fmt.Sprintf("item id %q has a stored prediction by version %d of another text; stored predictions are not replaced: give the new text a new id",
					truncate(items[i].ID, 128), v),
				"body", "items", strconv.Itoa(i), "id").Problems...)
		}
		return nil, problems
	}
	job := registry.Job{
		ID: newJobID(), Model: s.modelName, Version: v, Status: registry.JobQueued, Total: len(items),
		CreatedBy: userFrom(ctx), CreatedAt: time.Now().UTC(),
	}
	if req.Params.IdempotencyKey != nil {
		job.IdempotencyKey = *req.Params.IdempotencyKey
		job.RequestSHA256 = requestSHA256(version, items)
	}
	job, created, err := s.batch.Submit(ctx, job, items)
	var conflict *registry.Error
	if errors.As(err, &conflict) && conflict.Code == registry.ECONFLICT && req.Params.IdempotencyKey != nil {
		return nil, problemError(http.StatusConflict, typeConflict, conflict.Message, "header", "Idempotency-Key")
	}
	if err != nil {
		return nil, err
	}
	location := "/batch-jobs/" + job.ID
	e := metaFrom(ctx, http.StatusAccepted)
	resp := gen.CreateBatchJob202JSONResponse{Headers: gen.CreateBatchJob202ResponseHeaders{Location: &location}}
	if !created {
		replayed := "true"
		resp.Headers.IdempotentReplayed = &replayed
	}
	resp.Body = gen.BatchJobEnvelope{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url, Data: toBatchJob(job)}
	return resp, nil
}

// maxItemProblems bounds the problems one refused batch request reports.
const maxItemProblems = 20

// requestSHA256 identifies the content of a batch request: the version it
// names (none for the serving one) and its items, in order.
func requestSHA256(version *int, items []registry.Item) string {
	h := sha256.New()
	if version != nil {
		fmt.Fprintf(h, "version %d\n", *version)
	} else {
		fmt.Fprint(h, "serving version\n")
	}
	for _, it := range items {
		fmt.Fprintf(h, "%d:%s%d:%s", len(it.ID), it.ID, len(it.Text), it.Text)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// GetBatchJob implements GET /batch-jobs/{job-id}.
func (s *Server) GetBatchJob(ctx context.Context, req gen.GetBatchJobRequestObject) (gen.GetBatchJobResponseObject, error) {
	j, err := s.store.Job(ctx, req.JobId)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.GetBatchJob200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url, Data: toBatchJob(j)}, nil
}

// ListBatchJobs implements GET /batch-jobs: newest first, a page at a
// time, the cursor being the last job's creation time (Unix nanoseconds)
// and id.
func (s *Server) ListBatchJobs(ctx context.Context, req gen.ListBatchJobsRequestObject) (gen.ListBatchJobsResponseObject, error) {
	var after registry.JobKey
	var err error
	if req.Params.Cursor != nil {
		if after, err = parseJobCursor(*req.Params.Cursor); err != nil {
			return nil, problemError(http.StatusUnprocessableEntity, typeInvalid, "cursor is not one this server gave", "query", "cursor")
		}
	}
	status, limit := "", 20
	if req.Params.Status != nil {
		status = string(*req.Params.Status)
	}
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	jobs, err := s.store.Jobs(ctx, status, after, limit+1)
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	resp := gen.ListBatchJobs200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url}
	if len(jobs) > limit {
		jobs = jobs[:limit]
		c := jobCursor(jobs[limit-1].Key())
		resp.Data.NextCursor = &c
	}
	resp.Data.Jobs = make([]gen.BatchJob, len(jobs))
	for i, j := range jobs {
		resp.Data.Jobs[i] = toBatchJob(j)
	}
	return resp, nil
}

// jobCursor is the cursor of GET /batch-jobs that continues after k.
func jobCursor(k registry.JobKey) string {
	return strconv.FormatInt(k.CreatedAt.UnixNano(), 10) + "-" + k.ID
}

// parseJobCursor reads a cursor that jobCursor made.
func parseJobCursor(c string) (registry.JobKey, error) {
	ns, id, ok := strings.Cut(c, "-")
	if !ok || id == "" {
		return registry.JobKey{}, errors.New("server: malformed job cursor")
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return registry.JobKey{}, err
	}
	return registry.JobKey{CreatedAt: time.Unix(0, n).UTC(), ID: id}, nil
}

// DeleteBatchJob implements DELETE /batch-jobs/{job-id}.
func (s *Server) DeleteBatchJob(ctx context.Context, req gen.DeleteBatchJobRequestObject) (gen.DeleteBatchJobResponseObject, error) {
	j, err := s.batch.Delete(ctx, req.JobId)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "batch job deleted", slog.String("job", j.ID), slog.String("status", j.Status),
		slog.Int("done", j.Done), slog.Int("total", j.Total), slog.String("by", userFrom(ctx)))
	e := metaFrom(ctx, http.StatusOK)
	return gen.DeleteBatchJob200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url, Data: toBatchJob(j)}, nil
}

// ListBatchJobPredictions implements GET /batch-jobs/{job-id}/predictions.
func (s *Server) ListBatchJobPredictions(ctx context.Context, req gen.ListBatchJobPredictionsRequestObject) (gen.ListBatchJobPredictionsResponseObject, error) {
	from, limit := 0, 100
	var err error
	if req.Params.Cursor != nil {
		if from, err = strconv.Atoi(*req.Params.Cursor); err != nil {
			return nil, problemError(http.StatusUnprocessableEntity, typeInvalid, "cursor is not one this server gave", "query", "cursor")
		}
	}
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	preds, next, err := s.store.JobPredictions(ctx, req.JobId, from, limit)
	if err != nil {
		return nil, err
	}
	out := make([]gen.StoredPrediction, len(preds))
	checksums := map[int]string{} // by version: a job's predictions are all of one model
	for i, p := range preds {
		sum, ok := checksums[p.Version]
		if !ok {
			// A deleted version's predictions are deleted with it; a
			// checksum of "" makes ids that feedback refuses.
			if v, err := s.store.Version(ctx, p.Model, p.Version); err == nil {
				sum = v.Checksum
			} else if registry.ErrorCode(err) != registry.ENOTFOUND {
				return nil, err
			}
			checksums[p.Version] = sum
		}
		out[i] = s.toStoredPrediction(p, sum)
	}
	e := metaFrom(ctx, http.StatusOK)
	resp := gen.ListBatchJobPredictions200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url}
	resp.Data.Predictions = out
	if next > 0 {
		c := strconv.Itoa(next)
		resp.Data.NextCursor = &c
	}
	return resp, nil
}

// GetStoredPrediction implements GET /predictions/{item-id}: only the
// serving version's prediction is an answer.
func (s *Server) GetStoredPrediction(ctx context.Context, req gen.GetStoredPredictionRequestObject) (gen.GetStoredPredictionResponseObject, error) {
	cur := s.serving.Current()
	if cur == nil {
		return nil, errNotReady
	}
	p, err := s.serving.StoredPrediction(ctx, cur, req.ItemId)
	if registry.ErrorCode(err) == registry.ENOTFOUND {
		msg := fmt.Sprintf("no stored prediction for item %q by %s version %d, the serving version", req.ItemId, cur.Name, cur.Version)
		if others, oerr := s.store.PredictionVersions(ctx, cur.Name, req.ItemId); oerr == nil && len(others) > 0 {
			vs := make([]string, len(others))
			for i, v := range others {
				vs[i] = strconv.Itoa(v)
			}
			msg += fmt.Sprintf("; version %s has one, which is not served as current: run a batch with the serving version", strings.Join(vs, ", "))
		}
		return nil, problemError(http.StatusNotFound, typeNotFound, msg, "path", "item-id")
	}
	if err != nil {
		return nil, err
	}
	e := metaFrom(ctx, http.StatusOK)
	return gen.GetStoredPrediction200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url,
		Data: s.toStoredPrediction(p, cur.Checksum)}, nil
}
