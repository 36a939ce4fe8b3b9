package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestPrometheusRule decodes monitoring/prometheusrule.yaml strictly into
// the Prometheus Operator's type, parses each expression as PromQL, and
// checks that it alerts on drift, on live F1 below the holdout F1, and on
// too little feedback, from metrics the server exports.
func TestPrometheusRule(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("monitoring", "prometheusrule.yaml"))
	require.NoError(t, err)
	var rule monitoringv1.PrometheusRule
	require.NoError(t, yaml.UnmarshalStrict(data, &rule))
	assert.Equal(t, monitoringv1.SchemeGroupVersion.String(), rule.APIVersion)
	assert.Equal(t, monitoringv1.PrometheusRuleKind, rule.Kind)

	exported := serverMetrics(t)
	alerts := map[string]monitoringv1.Rule{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "recording rules are not expected")
			alerts[r.Alert] = r
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr.String())
			require.NoError(t, err, "%s: %s", r.Alert, r.Expr.String())
			parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
				if vs, ok := node.(*parser.VectorSelector); ok {
					assert.Contains(t, exported, vs.Name, "%s uses a metric the server does not export", r.Alert)
				}
				return nil
			})
			require.NotNil(t, r.For, r.Alert)
			_, err = time.ParseDuration(string(*r.For))
			assert.NoError(t, err, r.Alert)
			assert.Contains(t, []string{"info", "warning", "critical"}, r.Labels["severity"], r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
		}
	}
	for name, metric := range map[string]string{
		"TagifaiDrift":              "tagifai_drift_detected",
		"TagifaiLiveF1BelowHoldout": "tagifai_holdout_f1",
		"TagifaiTooLittleFeedback":  "tagifai_feedback_labels",
	} {
		r, ok := alerts[name]
		if assert.True(t, ok, "no alert %s", name) {
			assert.Contains(t, r.Expr.String(), metric, name)
		}
	}
	live := alerts["TagifaiLiveF1BelowHoldout"]
	assert.Contains(t, live.Expr.String(), "- 0.05", "the documented margin")
}

// serverMetrics returns the names of the metrics the server's monitoring
// exports, read from its source.
func serverMetrics(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "server", "*.go"))
	require.NoError(t, err)
	var names []string
	re := regexp.MustCompile(`"(tagifai_[a-z0-9_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	require.NotEmpty(t, names)
	return slices.Compact(names)
}
