package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadCSV(t *testing.T) {
	examples, err := ReadCSV("testdata/train.csv")
	require.NoError(t, err)
	require.Len(t, examples, 48)
	assert.Equal(t, Example{ID: "40", Text: "Time Series Forecasting Gradient boosting on tabular datasets.", Tag: "other", Line: 2}, examples[0])
	// A quoted description with a newline spans two lines.
	assert.Equal(t, "A curated implementation: monitoring data drift of models in production.\nIncludes notebooks.", strings.TrimPrefix(examples[1].Text, "Inference API "))
	assert.Equal(t, 5, examples[2].Line)
}

func TestReadCSVErrors(t *testing.T) {
	const header = "id,created_on,title,description,tag\n"
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"missing column", "id,created_on,title,tag\n1,2020,t,nlp\n", `line 1: missing column "description"`},
		{"empty file", "", "line 1: empty file"},
		{"empty text", header + "1,2020,a,b,mlops\n2,2020,, ,mlops\n", `line 3: id "2": empty text`},
		{"empty tag", header + "1,2020,a,b,\n", `line 2: id "1": empty tag`},
		{"unknown tag", header + "1,2020,a,\"b\nc\",mlops\n2,2020,a,b,Computer Vision\n", `line 4: id "2": unknown tag "Computer Vision"`},
		{"bad quoting", header + "1,2020,\"a,b,mlops\n", "parse error on line 2"},
		{"wrong field count", header + "1,2020,a,b\n", "wrong number of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data.csv")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o644))
			_, err := ReadCSV(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "model: "+path+": ")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := ReadCSV("testdata/no-such-file.csv")
		require.ErrorIs(t, err, os.ErrNotExist)
		assert.Contains(t, err.Error(), "testdata/no-such-file.csv")
	})
}

func TestLabels(t *testing.T) {
	examples := []Example{{Tag: "mlops"}, {Tag: "mlops"}, {Tag: "computer-vision"}, {Tag: "graph-learning"}, {Tag: "reinforcement-learning"}, {Tag: "mlops"}}
	labels, classes := Labels(examples, []string{"mlops", "computer-vision", "graph-learning"}, 2)
	// graph-learning is accepted but too rare, computer-vision too;
	// reinforcement-learning is not accepted.
	assert.Equal(t, []string{"mlops", "mlops", "other", "other", "other", "mlops"}, labels)
	assert.Equal(t, []string{"mlops", "other"}, classes)
}
