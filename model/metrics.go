package model

import (
	"strings"
)

// Metrics are precision, recall and F1 over NumSamples examples.
type Metrics struct {
	Precision  float64 `json:"precision"`
	Recall     float64 `json:"recall"`
	F1         float64 `json:"f1"`
	NumSamples int     `json:"num_samples"`
}

// Performance is the lesson's performance report.
type Performance struct {
	// Overall holds the support-weighted means of the per-class metrics
	// (scikit-learn's precision_recall_fscore_support(average="weighted")).
	Overall Metrics `json:"overall"`
	// Class holds the metrics of each class, NumSamples being its support
	// (the number of examples of that true class).
	Class map[string]Metrics `json:"class"`
	// Slices holds micro-averaged metrics (precision = recall = F1 =
	// accuracy, as the lesson's average="micro") on subsets:
	//   - "short_text": cleaned texts of fewer than 8 words;
	//   - "nlp_cnn": true class natural-language-processing and a text
	//     mentioning "cnn" or "convolution", ignoring case.
	// Every slice is present, with NumSamples 0 and zero metrics when empty.
	Slices map[string]Metrics `json:"slices"`
	// ConfusionMatrix counts the examples of each true label by predicted
	// label; nil in reports made before it existed.
	ConfusionMatrix *ConfusionMatrix `json:"confusion_matrix,omitempty"`
}

// ConfusionMatrix counts examples by true and predicted label:
// Matrix[i][j] is the number of examples of true label Labels[i] predicted
// as Labels[j] (scikit-learn's confusion_matrix, rows true, columns
// predicted). Labels are the classes in sorted order, then any other label
// met in the truth or the predictions, in order of appearance.
type ConfusionMatrix struct {
	Labels []string `json:"labels"`
	Matrix [][]int  `json:"matrix"`
}

// Evaluate predicts every example with c, fallback included, and scores
// the predictions against the true tags; a tag that is not one of c's
// classes counts as "other", as training mapped it.
func Evaluate(c *Classifier, examples []Example) Performance {
	preds := c.PredictBatch(texts(examples))
	isClass := map[string]bool{}
	for _, cl := range c.Classes() {
		isClass[cl] = true
	}
	truth := make([]string, len(examples))
	predicted := make([]string, len(examples))
	var short, nlpCNN []bool
	for i, ex := range examples {
		truth[i] = ex.Tag
		if !isClass[ex.Tag] {
			truth[i] = OtherTag
		}
		predicted[i] = preds[i].Tag
		cleaned := Clean(ex.Text, c.clean)
		short = append(short, len(strings.Fields(cleaned)) < 8)
		lower := strings.ToLower(ex.Text)
		nlpCNN = append(nlpCNN, truth[i] == "natural-language-processing" &&
			(strings.Contains(lower, "cnn") || strings.Contains(lower, "convolution")))
	}
	return Score(truth, predicted, c.Classes(), map[string][]bool{"short_text": short, "nlp_cnn": nlpCNN})
}

// Score computes the performance report of predicted against truth.
// Per class c, with tp, fp and fn the true positives, false positives and
// false negatives:
//
//	precision = tp/(tp+fp), recall = tp/(tp+fn), F1 = 2·precision·recall/(precision+recall)
//
// each 0 when its denominator is 0 (scikit-learn's zero_division=0).
// Overall is the mean of the class metrics weighted by support over classes
// and every tag in truth or predicted. slices maps a slice name to a mask
// over the examples; its metrics are micro averages, that is the accuracy.
func Score(truth, predicted, classes []string, slices map[string][]bool) Performance {
	if len(truth) != len(predicted) {
		panic("model: length mismatch")
	}
	labels := append([]string(nil), classes...)
	seen := map[string]bool{}
	for _, l := range labels {
		seen[l] = true
	}
	for _, ls := range [][]string{truth, predicted} {
		for _, l := range ls {
			if !seen[l] {
				seen[l] = true
				labels = append(labels, l)
			}
		}
	}
	tp, fp, fn := map[string]int{}, map[string]int{}, map[string]int{}
	for i := range truth {
		if truth[i] == predicted[i] {
			tp[truth[i]]++
		} else {
			fp[predicted[i]]++
			fn[truth[i]]++
		}
	}
	perf := Performance{Class: map[string]Metrics{}, Slices: map[string]Metrics{}}
	total := len(truth)
	for _, l := range labels {
		m := prf(tp[l], fp[l], fn[l])
		if seen[l] && containsString(classes, l) {
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
	perf.ConfusionMatrix = confusionMatrix(truth, predicted, labels)
	for name, mask := range slices {
		if len(mask) != len(truth) {
			panic("model: slice mask length mismatch")
		}
		n, correct := 0, 0
		for i, in := range mask {
			if in {
				n++
				if truth[i] == predicted[i] {
					correct++
				}
			}
		}
		m := Metrics{NumSamples: n}
		if n > 0 {
			acc := float64(correct) / float64(n)
			m.Precision, m.Recall, m.F1 = acc, acc, acc
		}
		perf.Slices[name] = m
	}
	return perf
}

// confusionMatrix counts truth against predicted over labels, which hold
// every label of both.
func confusionMatrix(truth, predicted, labels []string) *ConfusionMatrix {
	index := make(map[string]int, len(labels))
	for i, l := range labels {
		index[l] = i
	}
	cm := &ConfusionMatrix{Labels: labels, Matrix: make([][]int, len(labels))}
	for i := range cm.Matrix {
		cm.Matrix[i] = make([]int, len(labels))
	}
	for i := range truth {
		cm.Matrix[index[truth[i]]][index[predicted[i]]]++
	}
	return cm
}

func prf(tp, fp, fn int) Metrics {
	m := Metrics{NumSamples: tp + fn}
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

func containsString(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
