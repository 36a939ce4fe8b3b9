package model

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// CVResult is the outcome of CrossValidate.
type CVResult struct {
	// Folds holds the performance on each held-out fold, fallback active.
	Folds []Performance `json:"folds"`
	// F1 and F1NoFallback are the mean weighted F1 over the folds with the
	// fallback active and with it off.
	F1           float64 `json:"f1"`
	F1NoFallback float64 `json:"f1_no_fallback"`
	// ClassF1 is the mean F1 of each class over the folds, fallback active.
	ClassF1 map[string]float64 `json:"class_f1"`
}

// CrossValidate estimates how Train with args generalises, without any
// holdout: it splits examples into k stratified folds (by Labels' classes)
// and, for each fold, trains on the other k-1 folds with Train (which makes
// its own validation split for the threshold) and scores the held-out fold.
// The fold assignment is drawn from a PCG generator seeded with seed; fold
// i trains with seed + i.
func CrossValidate(ctx context.Context, examples []Example, args Args, k int, seed int64) (*CVResult, error) {
	if k < 2 {
		return nil, fmt.Errorf("model: cross-validation needs at least 2 folds, got %d", k)
	}
	labels, classes := Labels(examples, args.AcceptedTags, args.MinFreq)
	classIndex := map[string]int{}
	for i, c := range classes {
		classIndex[c] = i
	}
	byClass := make([][]int, len(classes))
	for i, l := range labels {
		byClass[classIndex[l]] = append(byClass[classIndex[l]], i)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6376)) // "cv"
	fold := make([]int, len(examples))
	next := 0
	for _, idx := range byClass {
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for _, i := range idx {
			fold[i] = next % k
			next++
		}
	}
	res := &CVResult{ClassF1: map[string]float64{}}
	for f := range k {
		var train, test []Example
		for i, ex := range examples {
			if fold[i] == f {
				test = append(test, ex)
			} else {
				train = append(train, ex)
			}
		}
		tr, err := Train(ctx, train, args, seed+int64(f), nil)
		if err != nil {
			return nil, fmt.Errorf("model: fold %d: %w", f, err)
		}
		perf := Evaluate(tr.Classifier, test)
		res.Folds = append(res.Folds, perf)
		res.F1 += perf.Overall.F1 / float64(k)
		res.F1NoFallback += Evaluate(tr.Classifier.WithThreshold(0), test).Overall.F1 / float64(k)
		for c, m := range perf.Class {
			res.ClassF1[c] += m.F1 / float64(k)
		}
	}
	return res, nil
}
