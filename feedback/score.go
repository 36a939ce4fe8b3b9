package feedback

import (
	"slices"

	"github.com/tagifai/tagifai/model"
)

// Count is how many feedback labels pair a predicted tag with a true one.
type Count struct {
	Predicted, True string
	N               int
}

// Score computes, from the counts of (predicted, true) pairs, the
// performance report model.Score computes from the lists of labels they
// stand for: per class c, with tp, fp and fn its true positives, false
// positives and false negatives,
//
//	precision = tp/(tp+fp), recall = tp/(tp+fn), F1 = 2·precision·recall/(precision+recall)
//
// (0 when a denominator is 0), NumSamples the class's support (labels of
// true class c); Overall is the support-weighted mean over classes, with
// NumSamples the number of labels, and the confusion matrix counts the
// labels (rows true, columns predicted). Labels are classes in order, then
// other tags met, sorted. Slices are not computed (feedback carries no
// text). The sums run in model.Score's order, so the figures are the same
// to the last bits.
func Score(classes []string, counts []Count) model.Performance {
	labels := slices.Clone(classes)
	var extra []string
	for _, c := range counts {
		for _, l := range []string{c.True, c.Predicted} {
			if !slices.Contains(labels, l) && !slices.Contains(extra, l) {
				extra = append(extra, l)
			}
		}
	}
	slices.Sort(extra)
	labels = append(labels, extra...)
	index := make(map[string]int, len(labels))
	for i, l := range labels {
		index[l] = i
	}
	matrix := make([][]int, len(labels))
	for i := range matrix {
		matrix[i] = make([]int, len(labels))
	}
	total := 0
	tp, fp, fn := make([]int, len(labels)), make([]int, len(labels)), make([]int, len(labels))
	for _, c := range counts {
		if c.N <= 0 {
			continue
		}
		t, p := index[c.True], index[c.Predicted]
		matrix[t][p] += c.N
		total += c.N
		if t == p {
			tp[t] += c.N
		} else {
			fp[p] += c.N
			fn[t] += c.N
		}
	}
	perf := model.Performance{Class: map[string]model.Metrics{}}
	for i, l := range labels {
		m := prf(tp[i], fp[i], fn[i])
		if slices.Contains(classes, l) {
			perf.Class[l] = m
		}
		if total > 0 {
			w := float64(m.NumSamples) / float64(total)
			perf.Overall.Precision += w * m.Precision
			perf.Overall.Recall += w * m.Recall
			perf.Overall.F1 += w * m.F1
		}
	}
	perf.Overall.NumSamples = total
	perf.ConfusionMatrix = &model.ConfusionMatrix{Labels: labels, Matrix: matrix}
	return perf
}

func prf(tp, fp, fn int) model.Metrics {
	m := model.Metrics{NumSamples: tp + fn}
	if tp+fp > 0 {
		m.Precision = float64(tp) / float64(tp+fp)
	}
	if tp+fn > 0 {
		m.Recall = float64(tp) / float64(tp+fn)
	}
	if m.Precision+m.Recall > 0 {
		m.F1 = 2 * m.Precision * m.Recall / (m.Precision + m.Recall)
	}
	return m
}
