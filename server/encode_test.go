package server

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/gen"
)

// encodingJSON is what the generated strict handlers write for v.
func encodingJSON(t testing.TB, v any) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.NewEncoder(&buf).Encode(v))
	return buf.String()
}

// handEncoded is what the hot handlers write for v, through writeJSON.
func recordHandEncoded(t testing.TB, visit func(*httptest.ResponseRecorder) error) (string, error) {
	t.Helper()
	rec := httptest.NewRecorder()
	err := visit(rec)
	if err == nil {
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		assert.Equal(t, 200, rec.Code)
	}
	return rec.Body.String(), err
}

func assertSameAsEncodingJSON(t *testing.T, v any) {
	t.Helper()
	var got string
	var err error
	switch v := v.(type) {
	case gen.HealthCheck200JSONResponse:
		got, err = recordHandEncoded(t, func(rec *httptest.ResponseRecorder) error {
			return (&healthResponse{HealthCheck200JSONResponse: v}).VisitHealthCheckResponse(rec)
		})
	case gen.Predict200JSONResponse:
		got, err = recordHandEncoded(t, func(rec *httptest.ResponseRecorder) error {
			return (&predictResponse{Predict200JSONResponse: v}).VisitPredictResponse(rec)
		})
	default:
		t.Fatalf("no hand encoder for %T", v)
	}
	var want bytes.Buffer
	wantErr := json.NewEncoder(&want).Encode(v)
	if wantErr != nil {
		assert.Error(t, err, "encoding/json fails on this value; so must the hand encoder")
		return
	}
	require.NoError(t, err)
	assert.Equal(t, want.String(), got)
}

// fill sets every exported field that v reaches to a value that is not
// the zero value (pointers excepted: the hand encoder hands those to
// encoding/json), so that a field added to a generated type and not to
// the hand encoder makes the comparison fail.
func fill(v reflect.Value, name string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("value of " + name + " <&> \u2028")
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(len(name)) + 7)
	case reflect.Float64, reflect.Float32:
		v.SetFloat(float64(len(name)) + 0.125)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 30, 4, 5, 6, 789, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				fill(v.Field(i), f.Name)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), name)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"zeta", "alpha", "mid"} {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, k)
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	}
}

// TestHandEncoderCoversEveryField fails when a generated response type
// gains a field the hand encoder does not write.
func TestHandEncoderCoversEveryField(t *testing.T) {
	t.Parallel()
	assert.True(t, healthEncoded, "gen.HealthEnvelope has fields the hand encoder does not write: teach appendHealthEnvelope")
	assert.True(t, predictEncoded, "gen.PredictionsEnvelope has fields the hand encoder does not write: teach appendPredictionsEnvelope")
	var health gen.HealthCheck200JSONResponse
	fill(reflect.ValueOf(&health).Elem(), "health")
	assertSameAsEncodingJSON(t, health)
	var predict gen.Predict200JSONResponse
	fill(reflect.ValueOf(&predict).Elem(), "predict")
	assertSameAsEncodingJSON(t, predict)
}

// TestHandEncoderMatchesEncodingJSON compares the hand encoder with
// encoding/json on the values that need care: escapes, invalid UTF-8,
// float formats, nil maps and slices, explanations, unencodable floats,
// timestamps out of JSON's range.
func TestHandEncoderMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 30, 4, 0, 0, 123456000, time.UTC)
	pred := func(text string, probs map[string]float64) gen.Prediction {
		return gen.Prediction{InputText: text, PredictedTag: "mlops", PredictedProbabilities: probs}
	}
	envelope := func(preds ...gen.Prediction) gen.Predict200JSONResponse {
		return gen.Predict200JSONResponse{Message: "OK", Method: "POST", StatusCode: 200, Timestamp: ts,
			Url: "http://localhost:8000/predict?a=<b>&c", Data: gen.Predictions{Model: "tagifai", Version: 3, RunId: "r", Predictions: preds}}
	}
	probs := map[string]float64{"other": 0.1, "mlops": 0.7, "computer-vision": 1e-7, "natural-language-processing": 0.2}
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"health", gen.HealthCheck200JSONResponse{Message: "OK", Method: "GET", StatusCode: 200, Timestamp: ts, Url: "http://h/",
			Data: gen.Health{Model: "tagifai", Version: 1, RunId: "3f2a", UptimeSeconds: 42.5}}},
		{"health tiny uptime", gen.HealthCheck200JSONResponse{Timestamp: ts, Data: gen.Health{UptimeSeconds: 1.5e-9}}},
		{"health huge uptime", gen.HealthCheck200JSONResponse{Timestamp: ts, Data: gen.Health{UptimeSeconds: 3e21}}},
		{"health NaN uptime", gen.HealthCheck200JSONResponse{Timestamp: ts, Data: gen.Health{UptimeSeconds: math.NaN()}}},
		{"health year 10000", gen.HealthCheck200JSONResponse{Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"health zone", gen.HealthCheck200JSONResponse{Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 5*3600+1800))}},
		{"health odd zone", gen.HealthCheck200JSONResponse{Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 17))}},
		{"predict one", envelope(pred("Transfer learning with transformers", probs))},
		{"predict escapes", envelope(pred("a \"quote\" \\ <b>&</b> \t\n\r\b\f \x01 \x7f \u2028\u2029 é 🙂 \xff\xfe end", probs))},
		{"predict nil probabilities", envelope(pred("x", nil))},
		{"predict empty probabilities", envelope(pred("x", map[string]float64{}))},
		{"predict many probabilities", envelope(pred("x", manyProbabilities(40)))},
		{"predict Inf", envelope(pred("x", map[string]float64{"a": math.Inf(1)}))},
		{"predict nil predictions", envelope()},
		{"predict empty predictions", gen.Predict200JSONResponse{Timestamp: ts, Data: gen.Predictions{Predictions: []gen.Prediction{}}}},
		{"predict explanation", envelope(gen.Prediction{InputText: "x", PredictedTag: "mlops", PredictedProbabilities: probs,
			Explanation: &gen.Explanation{Class: "mlops", Score: 1.5, Features: []gen.FeatureContribution{{Feature: "f", Kind: "word", Spans: [][]int{{0, 1}}}}}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertSameAsEncodingJSON(t, tc.v)
		})
	}
}

func manyProbabilities(n int) map[string]float64 {
	m := map[string]float64{}
	for i := range n {
		m[strings.Repeat("k", i%7)+string(rune('a'+i%26))+string(rune('0'+i/26))] = float64(i) / 3
	}
	return m
}

// TestHandEncoderRandom compares the encoders on random predictions.
func TestHandEncoderRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(19, 2026))
	alphabet := []string{"a", "Z", " ", "<", ">", "&", "\"", "\\", "\n", "\x00", "\x1f", "é", "\u2028", "\u2029", "🙂", "\xff", "\xe2\x80", "\ud7ff"}
	randText := func() string {
		var sb strings.Builder
		for range rng.IntN(40) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return sb.String()
	}
	randFloat := func() float64 {
		switch rng.IntN(4) {
		case 0:
			return rng.Float64()
		case 1:
			return math.Ldexp(rng.Float64(), -rng.IntN(1000))
		case 2:
			return math.Ldexp(rng.Float64(), rng.IntN(1000))
		}
		return -rng.Float64() * 1e-6
	}
	for range 500 {
		var preds []gen.Prediction
		for range rng.IntN(5) {
			probs := map[string]float64{}
			for range rng.IntN(6) {
				probs[randText()] = randFloat()
			}
			preds = append(preds, gen.Prediction{InputText: randText(), PredictedTag: randText(), PredictedProbabilities: probs})
		}
		assertSameAsEncodingJSON(t, gen.Predict200JSONResponse{Message: randText(), Method: randText(), StatusCode: rng.IntN(600),
			Timestamp: time.Unix(rng.Int64N(1<<35), rng.Int64N(1e9)).UTC(), Url: randText(),
			Data: gen.Predictions{Model: randText(), Version: rng.IntN(1 << 20), RunId: randText(), Predictions: preds}})
		assertSameAsEncodingJSON(t, gen.HealthCheck200JSONResponse{Message: randText(), Timestamp: time.Unix(rng.Int64N(1<<35), 0).UTC(),
			Data: gen.Health{Model: randText(), UptimeSeconds: randFloat(), Version: -rng.IntN(10)}})
	}
}

// FuzzHandEncoder compares the encoders on any text and probability.
func FuzzHandEncoder(f *testing.F) {
	f.Add("Transfer learning <b>&</b>", "mlops", 0.25, 1e-7)
	f.Add("\xff\u2028\x00", "", 1e21, -0.0)
	f.Fuzz(func(t *testing.T, text, key string, p, q float64) {
		assertSameAsEncodingJSON(t, gen.Predict200JSONResponse{Url: text, Timestamp: time.Unix(0, 0).UTC(), Data: gen.Predictions{
			Predictions: []gen.Prediction{{InputText: text, PredictedTag: key, PredictedProbabilities: map[string]float64{key: p, text: q}}}}})
		assertSameAsEncodingJSON(t, gen.HealthCheck200JSONResponse{Method: text, Data: gen.Health{UptimeSeconds: p, RunId: key}})
	})
}
