package monitor

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scipyFixtures are the values SciPy computes for the same inputs
// (testdata/make_fixtures.py).
type scipyFixtures struct {
	KS []struct {
		Name      string    `json:"name"`
		X         []float64 `json:"x"`
		Y         []float64 `json:"y"`
		Statistic float64   `json:"statistic"`
		PValue    float64   `json:"pvalue"`
	} `json:"ks_2samp"`
	Chi2 []struct {
		Name      string    `json:"name"`
		Ref       []float64 `json:"ref"`
		Cur       []float64 `json:"cur"`
		Statistic float64   `json:"statistic"`
		PValue    float64   `json:"pvalue"`
		DOF       int       `json:"dof"`
	} `json:"chi2_contingency"`
	Kolmogorov []struct {
		X  float64 `json:"x"`
		SF float64 `json:"sf"`
	} `json:"kstwobign_sf"`
}

func loadFixtures(t *testing.T) scipyFixtures {
	t.Helper()
	data, err := os.ReadFile("testdata/scipy_fixtures.json")
	require.NoError(t, err)
	var f scipyFixtures
	require.NoError(t, json.Unmarshal(data, &f))
	require.NotEmpty(t, f.KS)
	require.NotEmpty(t, f.Chi2)
	require.NotEmpty(t, f.Kolmogorov)
	return f
}

// assertPValue compares p-values to 1e-12 absolutely, and relatively to
// 1e-9 where they are large enough for double precision to hold that
// (1 - u loses the relative precision of tiny p-values).
func assertPValue(t *testing.T, want, got float64, msg string) {
	t.Helper()
	assert.InDelta(t, want, got, 1e-12, msg)
	if want > 1e-6 {
		assert.InEpsilon(t, want, got, 1e-9, msg)
	}
}

func TestKolmogorovSmirnovMatchesSciPy(t *testing.T) {
	t.Parallel()
	for _, tc := range loadFixtures(t).KS {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			d, p := KolmogorovSmirnov(tc.X, tc.Y)
			assert.InDelta(t, tc.Statistic, d, 1e-12, "statistic")
			assertPValue(t, tc.PValue, p, "p-value")
			d2, p2 := KolmogorovSmirnov(tc.Y, tc.X)
			assert.Equal(t, d, d2, "symmetric")
			assert.InDelta(t, p, p2, 1e-12, "symmetric")
		})
	}
}

func TestChiSquaredMatchesSciPy(t *testing.T) {
	t.Parallel()
	for _, tc := range loadFixtures(t).Chi2 {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			stat, p, dof := ChiSquared(tc.Ref, tc.Cur)
			assert.InDelta(t, tc.Statistic, stat, 1e-9*max(1, tc.Statistic), "statistic")
			assertPValue(t, tc.PValue, p, "p-value")
			assert.Equal(t, tc.DOF, dof)
		})
	}
}

func TestKolmogorovSurvivalMatchesSciPy(t *testing.T) {
	t.Parallel()
	for _, tc := range loadFixtures(t).Kolmogorov {
		assert.InDelta(t, tc.SF, KolmogorovSurvival(tc.X), 1e-12, "x = %v", tc.X)
	}
	assert.Equal(t, 1.0, KolmogorovSurvival(0))
	assert.Equal(t, 1.0, KolmogorovSurvival(-1))
	assert.Less(t, KolmogorovSurvival(10), 1e-80)
}

func TestDriftTestEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		x, y     []float64
		wantD    float64
		wantP    float64
		wantDOF  int
		chiSqare bool
	}{
		{name: "ks empty window", x: []float64{1, 2}, y: nil, wantD: 0, wantP: 1},
		{name: "ks identical samples", x: []float64{1, 2, 3}, y: []float64{3, 2, 1}, wantD: 0, wantP: 1},
		{name: "chi-squared one category", x: []float64{5, 0}, y: []float64{7, 0}, wantP: 1, chiSqare: true},
		{name: "chi-squared empty window", x: []float64{5, 3}, y: []float64{0, 0}, wantP: 1, chiSqare: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.chiSqare {
				stat, p, dof := ChiSquared(tt.x, tt.y)
				assert.Equal(t, 0.0, stat)
				assert.Equal(t, tt.wantP, p)
				assert.Equal(t, tt.wantDOF, dof)
				return
			}
			d, p := KolmogorovSmirnov(tt.x, tt.y)
			assert.Equal(t, tt.wantD, d)
			assert.Equal(t, tt.wantP, p)
		})
	}
	assert.Panics(t, func() { ChiSquared([]float64{1}, []float64{1, 2}) })
}

// TestKolmogorovSmirnovLargeSamples: beyond the exact method's size, the
// asymptotic p-value is used, and it is close to the exact one where both
// apply.
func TestKolmogorovSmirnovLargeSamples(t *testing.T) {
	t.Parallel()
	x := make([]float64, 3000)
	y := make([]float64, 3000)
	for i := range x {
		x[i] = math.Sin(float64(i)*0.37) * 10
		y[i] = math.Sin(float64(i)*0.41)*10 + 0.3
	}
	d, exact := KolmogorovSmirnov(x, y)
	en := 3000.0 * 3000 / 6000
	assert.InDelta(t, exact, KolmogorovSurvival(math.Sqrt(en)*d), 5e-3)

	big := make([]float64, 5000)
	for i := range big {
		big[i] = math.Cos(float64(i) * 0.13)
	}
	_, p := KolmogorovSmirnov(big, append(big[:0:0], big[:2500]...))
	assert.True(t, p >= 0 && p <= 1, "p = %v", p)
}
