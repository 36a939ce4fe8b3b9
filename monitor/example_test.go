package monitor_test

import (
	"fmt"
	"time"

	"github.com/tagifai/tagifai/monitor"
)

func ExampleChiSquared() {
	// Predicted tags at training (reference) and in the last window: the
	// window is all natural-language-processing.
	reference := []float64{56, 15, 79, 41}
	window := []float64{0, 0, 300, 0}
	stat, p, dof := monitor.ChiSquared(reference, window)
	fmt.Printf("X² = %.1f, %d degrees of freedom, p = %.1e\n", stat, dof, p)
	// Output: X² = 227.9, 3 degrees of freedom, p = 3.9e-49
}

func ExampleKolmogorovSmirnov() {
	reference := []float64{0.91, 0.95, 0.88, 0.99, 0.97, 0.93}
	window := []float64{0.61, 0.72, 0.55, 0.93, 0.68}
	// SciPy: ks_2samp(reference, window, method="exact") gives 0.8, 0.047619.
	d, p := monitor.KolmogorovSmirnov(reference, window)
	fmt.Printf("D = %.3f, p = %.4f\n", d, p)
	// Output: D = 0.800, p = 0.0476
}

func ExampleMonitor() {
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ref := &monitor.Reference{
		Tags: []string{"mlops", "other"}, TagCounts: []int{50, 50},
		Confidence: []float64{0.6, 0.7, 0.8, 0.9}, Tokens: []float64{10, 20, 30, 40}, OOVRate: []float64{0.1, 0.2},
	}
	m, err := monitor.New([]string{"mlops", "other"}, ref, monitor.Config{Capacity: 500, MinSamples: 50, Now: func() time.Time { return clock }})
	if err != nil {
		panic(err)
	}
	for range 100 {
		m.Observe(monitor.Observation{Tag: "mlops", Confidence: 0.75, Tokens: 25, OOVRate: 0.15})
	}
	snap := m.Snapshot()
	for _, r := range snap.Drift {
		fmt.Printf("%-10s %-18s drifted=%v\n", r.Signal, r.Test, r.Drifted)
	}
	// Output:
	// tag        chi_squared        drifted=true
	// confidence kolmogorov_smirnov drifted=false
	// tokens     kolmogorov_smirnov drifted=false
	// oov_rate   threshold          drifted=false
}
