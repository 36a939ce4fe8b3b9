package monitor

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// Test names of Result.Test.
const (
	TestChiSquared         = "chi_squared"
	TestKolmogorovSmirnov  = "kolmogorov_smirnov"
	TestThreshold          = "threshold"
	defaultAlpha           = 0.05
	maxExactKSCells        = 10_000_000
	kolmogorovSeriesTerms  = 100
	kolmogorovSmallLimit   = 0.27
	kolmogorovLargeEpsilon = 1e-16
)

// Result is the outcome of one drift test of a signal.
type Result struct {
	// Signal names what was tested: "tag", "confidence", "tokens",
	// "oov_rate".
	Signal string
	// Test is TestChiSquared, TestKolmogorovSmirnov or TestThreshold.
	Test string
	// Statistic is the test statistic: Pearson's X² for TestChiSquared, the
	// largest distance D between the two empirical distribution functions
	// for TestKolmogorovSmirnov, the window's mean for TestThreshold.
	Statistic float64
	// PValue is the probability, were the window drawn from the reference
	// distribution, of a statistic at least as large; nil for
	// TestThreshold.
	PValue *float64
	// DegreesOfFreedom is the chi-squared test's (K'-1, K' the categories
	// seen in either sample); 0 for the other tests.
	DegreesOfFreedom int
	// Threshold is the significance the p-value is compared with, or, for
	// TestThreshold, the value the statistic is compared with.
	Threshold float64
	// WindowSize and ReferenceSize are the sizes of the two samples.
	WindowSize, ReferenceSize int
	// Enough is false when the window holds fewer observations than the
	// monitor's MinSamples; Drifted is then false whatever the statistic.
	Enough bool
	// Drifted is true when the test rejects "the window is drawn from the
	// reference distribution": p-value < Threshold, or, for TestThreshold,
	// Statistic > Threshold.
	Drifted bool
}

// ChiSquared is Pearson's chi-squared test of homogeneity of two samples
// of a categorical variable given by their counts per category (ref[i] and
// cur[i] count category i). Categories absent from both samples are
// dropped; of the K' left, with row totals R_s, column totals C_i and
// N = R_ref + R_cur, the expected count of cell (s, i) is E = R_s·C_i/N and
//
//	X² = sum over s, i of (O_si - E_si)² / E_si,
//
// which under homogeneity is asymptotically chi-squared with K'-1 degrees
// of freedom, so p = P(χ²_{K'-1} >= X²) (Pearson 1900; Agresti,
// Categorical Data Analysis, 3rd ed., §3.2). This is
// scipy.stats.chi2_contingency(table, correction=False), which
// alibi-detect's ChiSquareDrift runs on each feature (with scipy's default
// correction, Yates's, which only applies when K' = 2). The approximation
// wants expected counts of about 5 or more.
//
// With fewer than two categories, or an empty sample, it returns X² = 0
// and p = 1 with 0 degrees of freedom.
func ChiSquared(ref, cur []float64) (stat, p float64, dof int) {
	if len(ref) != len(cur) {
		panic("monitor: chi-squared counts of different lengths")
	}
	var rowRef, rowCur float64
	var cols []int
	for i := range ref {
		if ref[i]+cur[i] > 0 {
			cols = append(cols, i)
			rowRef += ref[i]
			rowCur += cur[i]
		}
	}
	if len(cols) < 2 || rowRef == 0 || rowCur == 0 {
		return 0, 1, 0
	}
	n := rowRef + rowCur
	for _, i := range cols {
		col := ref[i] + cur[i]
		for _, c := range [2]struct{ obs, row float64 }{{ref[i], rowRef}, {cur[i], rowCur}} {
			e := c.row * col / n
			stat += (c.obs - e) * (c.obs - e) / e
		}
	}
	dof = len(cols) - 1
	return stat, distuv.ChiSquared{K: float64(dof)}.Survival(stat), dof
}

// KolmogorovSmirnov is the two-sample Kolmogorov-Smirnov test of x and y
// (any order; neither is modified). Its statistic is
//
//	D = sup over t of |F_x(t) - F_y(t)|
//
// for the empirical distribution functions F_x and F_y, and its p-value,
// two-sided, is P(D' >= D) for D' the statistic of two samples of the same
// sizes m and n from one continuous distribution (Smirnov 1939; Hodges
// 1958).
//
// When m·n <= 10^7 the p-value is exact, as scipy.stats.ks_2samp's
// method="exact" (its default for samples of up to 10,000): of the
// C(m+n, m) equally likely orders of the pooled sample, seen as lattice
// paths from (0, 0) to (m, n), the share that reaches a point (i, j) with
// |i·n - j·m| >= D·m·n (Hodges 1958, §2). Ties between the samples are
// allowed in D but, as in SciPy, not in the null distribution, which makes
// the test conservative for discrete data such as lengths.
//
// Beyond, it uses Kolmogorov's limiting distribution,
// p = Q_KS(sqrt(m·n/(m+n))·D) (see KolmogorovSurvival), where SciPy's
// method="asymp" uses the one-sample distribution kstwo with
// n = round(m·n/(m+n)); both agree to a few 1e-3 at such sizes.
//
// It returns D = 0, p = 1 when either sample is empty.
func KolmogorovSmirnov(x, y []float64) (d, p float64) {
	m, n := len(x), len(y)
	if m == 0 || n == 0 {
		return 0, 1
	}
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	// D·m·n as an integer: at each distinct value t, |a·n - b·m| with a and
	// b the counts of x and y at or below t.
	var dmn int64
	i, j := 0, 0
	for i < m || j < n {
		var t float64
		switch {
		case j == n || i < m && xs[i] <= ys[j]:
			t = xs[i]
		default:
			t = ys[j]
		}
		for i < m && xs[i] == t {
			i++
		}
		for j < n && ys[j] == t {
			j++
		}
		diff := int64(i)*int64(n) - int64(j)*int64(m)
		dmn = max(dmn, diff, -diff)
	}
	d = float64(dmn) / (float64(m) * float64(n))
	if dmn == 0 {
		return 0, 1
	}
	if float64(m)*float64(n) <= maxExactKSCells {
		return d, ksExact(m, n, dmn)
	}
	en := float64(m) * float64(n) / float64(m+n)
	return d, KolmogorovSurvival(math.Sqrt(en) * d)
}

// ksExact is P(D' >= dmn/(m·n)) for the two-sample statistic D' of sizes m
// and n under the null: 1 minus the probability that a random lattice path
// from (0, 0) to (m, n) stays where |i·n - j·m| < dmn. Each path is a draw
// without replacement, so from (i, j) it steps to (i+1, j) with probability
// (m-i)/(m+n-i-j); u(i, j), the probability of reaching (i, j) inside, is
// computed row by row in O(m·n) time and O(n) memory, every value in [0, 1].
func ksExact(m, n int, dmn int64) float64 {
	inside := func(i, j int) bool {
		diff := int64(i)*int64(n) - int64(j)*int64(m)
		return diff < dmn && -diff < dmn
	}
	u := make([]float64, n+1)
	u[0] = 1
	for j := 1; j <= n; j++ {
		if !inside(0, j) {
			u[j] = 0
			continue
		}
		u[j] = u[j-1] * float64(n-j+1) / float64(m+n-j+1)
	}
	for i := 1; i <= m; i++ {
		for j := 0; j <= n; j++ {
			if !inside(i, j) {
				u[j] = 0
				continue
			}
			left := float64(m + n - i - j + 1)
			v := u[j] * float64(m-i+1) / left // from (i-1, j)
			if j > 0 {
				v += u[j-1] * float64(n-j+1) / left // from (i, j-1)
			}
			u[j] = v
		}
	}
	return min(max(1-u[n], 0), 1)
}

// KolmogorovSurvival is the survival function of Kolmogorov's
// distribution, the limit of sqrt(n)·D_n (Kolmogorov 1933):
//
//	Q_KS(x) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k² x²),
//
// scipy.stats.kstwobign.sf. For small x the series converges slowly, and
// it uses the equivalent (Jacobi theta) form of the distribution function,
//
//	1 - Q_KS(x) = sqrt(2π)/x sum_{k>=1} exp(-(2k-1)² π² / (8 x²)).
func KolmogorovSurvival(x float64) float64 {
	if x <= 0 {
		return 1
	}
	if x < kolmogorovSmallLimit {
		// exp(-π²/(8x²)) < 1e-29 here: the distribution function is 0 in
		// double precision.
		return 1
	}
	if x < 1 {
		sum := 0.0
		for k := 1; k <= kolmogorovSeriesTerms; k++ {
			term := math.Exp(-float64((2*k-1)*(2*k-1)) * math.Pi * math.Pi / (8 * x * x))
			sum += term
			if term < kolmogorovLargeEpsilon*sum {
				break
			}
		}
		return 1 - math.Sqrt(2*math.Pi)/x*sum
	}
	sum := 0.0
	sign := 1.0
	for k := 1; k <= kolmogorovSeriesTerms; k++ {
		term := math.Exp(-2 * float64(k*k) * x * x)
		sum += sign * term
		if term < kolmogorovLargeEpsilon*math.Abs(sum) {
			break
		}
		sign = -sign
	}
	return min(max(2*sum, 0), 1)
}
