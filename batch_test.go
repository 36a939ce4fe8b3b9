package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/registry"
)

// TestCLIBatch: `tagifai batch` submits a job like POST /batch-jobs and
// works it in-process; the job is listed with the others, running the
// same command again finds the same job rather than predicting again, and
// --shard (or TAGIFAI_SHARD) splits a file between processes.
func TestCLIBatch(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	input := filepath.Join(t.TempDir(), "items.csv")
	var b strings.Builder
	b.WriteString("id,text\n")
	for i := range 2500 {
		fmt.Fprintf(&b, "row-%04d,Serving transformer models with Kubernetes, part %d\n", i, i)
	}
	b.WriteString(",no id\n")
	require.NoError(t, os.WriteFile(input, []byte(b.String()), 0o644))
	args := []string{"batch", "--input", input, "--data-dir", dataDir, "--artifacts", "artifacts", "--workers", "2"}

	code, stdout, stderr := runMain(t, nil, args...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "2500 rows: job ")
	assert.Contains(t, stdout, "succeeded with tagifai version 1, 1 malformed rows skipped")
	assert.Contains(t, stderr, "line 2502")

	code, stdout, stderr = runMain(t, nil, args...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "resuming (2500/2500 rows done)", "the same input is the same job")
	assert.Contains(t, stdout, "succeeded")

	code, _, stderr = runMain(t, map[string]string{"TAGIFAI_SHARD": "1/2"}, args...)
	require.Equal(t, 0, code, stderr)

	ctx := context.Background()
	store, _, _, err := (&registryFlags{dataDir: dataDir}).open(ctx, false, quietLog())
	require.NoError(t, err)
	defer store.Close()
	jobs, err := store.Jobs(ctx, "", registry.JobKey{}, 10)
	require.NoError(t, err)
	require.Len(t, jobs, 2, "one job per input and shard")
	assert.Equal(t, 1250, jobs[0].Total, "shard 1/2 has every other row")
	assert.Equal(t, 2500, jobs[1].Total)
	for _, j := range jobs {
		assert.Equal(t, registry.JobSucceeded, j.Status)
		assert.Equal(t, j.Total, j.Done)
		assert.Equal(t, batchCreator, j.CreatedBy)
	}
	for _, id := range []string{"row-0000", "row-2499"} {
		_, err := store.Prediction(ctx, "tagifai", 1, id)
		assert.NoError(t, err, id)
	}

	// An edited record under an id already predicted: skipped, said, and
	// the stored prediction stays the first text's.
	kept, err := store.Prediction(ctx, "tagifai", 1, "row-0001")
	require.NoError(t, err)
	edited := filepath.Join(t.TempDir(), "edited.csv")
	require.NoError(t, os.WriteFile(edited, []byte("id,text\nrow-0001,Object detection with YOLO\nrow-9000,BERT for sentiment\n"), 0o644))
	code, stdout, stderr = runMain(t, nil, "batch", "--input", edited, "--data-dir", dataDir, "--artifacts", "artifacts")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, `item "row-0001": version 1 has a stored prediction of another text under this id`)
	assert.Contains(t, stdout, "succeeded with tagifai version 1, 0 malformed rows skipped, 1 rows of ids predicted for another text skipped")
	now, err := store.Prediction(ctx, "tagifai", 1, "row-0001")
	require.NoError(t, err)
	assert.Equal(t, kept, now)
	_, err = store.Prediction(ctx, "tagifai", 1, "row-9000")
	assert.NoError(t, err, "the other row is predicted")

	for _, bad := range []string{"2/2", "x", "1/0", "-1/2"} {
		code, _, stderr := runMain(t, nil, append(args, "--shard", bad)...)
		assert.Equal(t, 2, code, bad)
		assert.Contains(t, stderr, "tagifai batch: --shard must be INDEX/N")
	}
	code, _, stderr = runMain(t, nil, append(args, "--workers", "0")...)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "tagifai batch: --workers must be at least 1")
}
