package model

// ProbabilitiesByClass pairs each class with its probability: probs[i] is
// the probability of classes[i], as in Prediction.Probabilities.
func ProbabilitiesByClass(classes []string, probs []float64) map[string]float64 {
	if len(classes) != len(probs) {
		panic("model: length mismatch")
	}
	out := make(map[string]float64, len(classes))
	for i, c := range classes {
		out[c] = probs[i]
	}
	return out
}
