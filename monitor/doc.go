// Package monitor keeps online statistics of a model's predictions over a
// sliding window and tests them for drift against the reference
// distributions recorded at training (model.Baseline).
//
// It is pure: no HTTP, no database, no goroutines. A server feeds a
// Monitor every prediction through Observe, which takes one short lock per
// call and stores a fixed-size record in a ring buffer of fixed capacity,
// so memory is bounded whatever the traffic; Snapshot copies the window
// and computes the summaries and tests outside the lock.
//
// # Drift tests
//
// They follow alibi-detect (ChiSquareDrift, KSDrift) and the Made With ML
// lesson "Monitoring Machine Learning Systems": each signal is compared
// with its reference sample by a two-sample test, and the window has
// drifted when the p-value is below the significance Alpha (0.05 by
// default, alibi-detect's default p_val; tests are not corrected for
// multiplicity, so with three tests the chance of at least one false alarm
// on undrifted traffic is up to 1-(1-Alpha)^3, about 14%).
//
//   - Predicted tags: Pearson's chi-squared test of homogeneity on the
//     2×K contingency table of reference and window counts (ChiSquared).
//   - Confidence (winning probability) and text length in tokens: the
//     two-sample Kolmogorov-Smirnov test (KolmogorovSmirnov).
//   - Out-of-vocabulary rate: a threshold on the window's mean, above the
//     reference mean by a margin (OOVThreshold); it has no p-value.
//
// The functions are tested against SciPy's scipy.stats.chi2_contingency,
// ks_2samp and kstwobign (testdata/scipy_fixtures.json, made by
// testdata/make_fixtures.py).
package monitor
