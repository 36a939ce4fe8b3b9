package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tagifai/tagifai/batch"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/server"
)

func init() {
	commands["batch"] = command{summary: "predict a CSV file ahead of time and store the predictions", run: runBatch}
}

// batchChunk is how many rows are predicted and stored in one transaction.
const batchChunk = 5000

// runBatch implements `tagifai batch --input CSV [--model NAME] [--version V]`:
// it predicts every row with the serving version (or --version) and stores
// the predictions in the registry's database, skipping rows that version
// has already stored, so that an interrupted run can simply be run again.
func runBatch(ctx context.Context, args []string, e env) error {
	fl := newFlags(e, "batch", "", "Predict every row of a CSV file with the serving version (or --version) and store the predictions in the registry; run again to resume.")
	input := fl.String("input", "", "CSV file: id,text or id,created_on,title,description,tag (required)")
	loc := addRegistryFlags(fl)
	name := fl.String("model", server.DefaultModelName, "model to predict with")
	version := fl.Int("version", 0, "version to predict with; default: the serving version")
	artifacts := fl.String("artifacts", "artifacts", "model imported as version 1 when the registry is empty")
	if err := fl.parse(args, 0, 0); err != nil {
		return err
	}
	if *input == "" {
		return fl.usagef("--input is required")
	}

	f, err := os.Open(*input)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	items, bad, err := batch.ReadItems(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	for _, b := range bad {
		fmt.Fprintf(e.stderr, "%s:%v (skipped)\n", *input, b)
	}
	// The API's rule for ids, so that GET /predictions/{item-id} finds each.
	items = slices.DeleteFunc(items, func(it registry.Item) bool {
		err := server.CheckItemID(it.ID)
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: item %q: %v (skipped)\n", *input, it.ID, err)
		}
		return err != nil
	})

	store, reg, err := openRegistryFor(ctx, loc, true, e)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := reg.ImportIfEmpty(ctx, *name, *artifacts, "tagifai-batch"); err != nil {
		return fmt.Errorf("%w", err)
	}
	if *version == 0 {
		m, err := store.Model(ctx, *name)
		if err != nil {
			return fmt.Errorf("%w", err)
		}
		if m.ServingVersion == 0 {
			return fmt.Errorf("model %s has no serving version; pass --version", *name)
		}
		*version = m.ServingVersion
	}
	art, _, err := reg.Open(ctx, *name, *version)
	if err != nil {
		return fmt.Errorf("%w", err)
	}

	start := time.Now()
	bar := newProgress(e.stderr, len(items))
	added, skipped := 0, 0
	for from := 0; from < len(items); from += batchChunk {
		if ctx.Err() != nil {
			bar.finish()
			return fmt.Errorf("interrupted after %d rows; run again to resume", from)
		}
		chunk := items[from:min(from+batchChunk, len(items))]
		// Rows the version has stored already are predicted again but kept
		// once: the insert keeps the stored row, which costs less than
		// asking first.
		preds := predictParallel(art.Classifier, *name, *version, chunk)
		n, err := store.SavePredictions(context.WithoutCancel(ctx), preds)
		if err != nil {
			return fmt.Errorf("%w", err)
		}
		skipped += len(chunk) - n
		added += n
		bar.set(from + len(chunk))
	}
	bar.finish()
	elapsed := time.Since(start)
	fmt.Fprintf(e.stdout, "%d rows: %d predictions stored, %d already stored by %s version %d, %d malformed rows skipped; %.0f rows/s\n",
		len(items), added, skipped, *name, *version, len(bad), float64(len(items))/elapsed.Seconds())
	return nil
}

// predictParallel predicts items on every core.
func predictParallel(c batch.Classifier, name string, version int, items []registry.Item) []registry.StoredPrediction {
	workers := runtime.GOMAXPROCS(0)
	out := make([]registry.StoredPrediction, len(items))
	per := (len(items) + workers - 1) / workers
	var wg sync.WaitGroup
	now := time.Now().UTC()
	for w := 0; w < workers && w*per < len(items); w++ {
		lo, hi := w*per, min((w+1)*per, len(items))
		wg.Add(1)
		go func() {
			defer wg.Done()
			copy(out[lo:hi], batch.Predict(c, name, version, items[lo:hi], now))
		}()
	}
	wg.Wait()
	return out
}

// progress draws a progress bar with rows/s and ETA on a terminal line.
type progress struct {
	w     io.Writer
	total int
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, start: time.Now()}
}

func (p *progress) set(done int) {
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done < p.total {
		return
	}
	p.last = now
	rate := float64(done) / now.Sub(p.start).Seconds()
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-done)/rate) * time.Second).Round(time.Second).String()
	}
	const width = 30
	filled := width
	if p.total > 0 {
		filled = width * done / p.total
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d rows  %.0f rows/s  ETA %s ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, p.total, rate, eta)
}

func (p *progress) finish() { fmt.Fprintln(p.w) }
