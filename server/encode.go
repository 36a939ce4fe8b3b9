package server

import (
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tagifai/tagifai/gen"
)

// This file encodes the answers of the hot operations (GET /, POST
// /predict) by hand, into pooled buffers, with the bytes that the
// generated strict handlers' encoding/json would write: the same field
// order, string escaping (HTML characters and U+2028/U+2029 escaped,
// invalid UTF-8 replaced), float format, map keys sorted, and trailing
// newline. encode_test.go checks byte equality against encoding/json.
// Whatever the hand encoder does not cover (an explanation, a float that
// JSON cannot hold, a year beyond 9999) goes to encoding/json.

// The fields the hand encoder writes, by type, in order. A field added to
// a generated type turns the hand encoder off for the answers holding it
// (they go to encoding/json, right but slower) until it is taught the
// field; TestHandEncoderCoversEveryField fails meanwhile.
var (
	healthEncoded = knowsFields(map[reflect.Type][]string{
		reflect.TypeFor[gen.HealthEnvelope](): {"data", "message", "method", "status-code", "timestamp", "url"},
		reflect.TypeFor[gen.Health]():         {"model", "run_id", "uptime_seconds", "version"},
	})
	predictEncoded = knowsFields(map[reflect.Type][]string{
		reflect.TypeFor[gen.PredictionsEnvelope](): {"data", "message", "method", "status-code", "timestamp", "url"},
		reflect.TypeFor[gen.Predictions]():         {"model", "predictions", "run_id", "version"},
		reflect.TypeFor[gen.Prediction]():          {"explanation,omitempty", "input_text", "predicted_probabilities", "predicted_tag", "prediction_id"},
	})
)

// knowsFields reports whether each type's JSON fields are the ones listed.
func knowsFields(types map[reflect.Type][]string) bool {
	for t, want := range types {
		var got []string
		for f := range t.Fields() {
			got = append(got, f.Tag.Get("json"))
		}
		if !slices.Equal(got, want) {
			return false
		}
	}
	return true
}

// healthResponse is the 200 answer of GET /.
type healthResponse struct {
	gen.HealthCheck200JSONResponse
	st *requestState
}

// VisitHealthCheckResponse implements gen.HealthCheckResponseObject.
func (r *healthResponse) VisitHealthCheckResponse(w http.ResponseWriter) error {
	return writeJSON(w, r.st, r)
}

func (r *healthResponse) appendJSON(b []byte) ([]byte, bool) {
	if !healthEncoded {
		return b, false
	}
	return appendHealthEnvelope(b, (*gen.HealthEnvelope)(&r.HealthCheck200JSONResponse))
}

func (r *healthResponse) marshal() ([]byte, error) { return json.Marshal(r.HealthCheck200JSONResponse) }

// predictResponse is the 200 answer of POST /predict.
type predictResponse struct {
	gen.Predict200JSONResponse
	st *requestState
}

// VisitPredictResponse implements gen.PredictResponseObject.
func (r *predictResponse) VisitPredictResponse(w http.ResponseWriter) error {
	return writeJSON(w, r.st, r)
}

func (r *predictResponse) appendJSON(b []byte) ([]byte, bool) {
	if !predictEncoded {
		return b, false
	}
	return appendPredictionsEnvelope(b, (*gen.PredictionsEnvelope)(&r.Predict200JSONResponse))
}

func (r *predictResponse) marshal() ([]byte, error) { return json.Marshal(r.Predict200JSONResponse) }

// handEncoded is an answer that the hand encoder writes (appendJSON),
// unless it cannot (ok false): then encoding/json does (marshal).
type handEncoded interface {
	appendJSON(b []byte) (_ []byte, ok bool)
	marshal() ([]byte, error)
}

// jsonBuffers holds response buffers between requests.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxPooledBuffer bounds the buffers kept for reuse, so that one large
// answer does not stay in memory.
const maxPooledBuffer = 256 << 10

// writeJSON answers 200 with v's JSON, as the generated handlers do.
func writeJSON(w http.ResponseWriter, st *requestState, v handEncoded) error {
	bp := jsonBuffers.Get().(*[]byte)
	b, ok := v.appendJSON((*bp)[:0])
	if !ok {
		raw, err := v.marshal()
		if err != nil {
			jsonBuffers.Put(bp)
			return err
		}
		b = append(append(b[:0], raw...), '\n')
	}
	setJSONContentType(w.Header(), st)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	if cap(b) <= maxPooledBuffer {
		*bp = b
		jsonBuffers.Put(bp)
	}
	return err
}

// appendHealthEnvelope appends e as encoding/json's Encoder would.
func appendHealthEnvelope(b []byte, e *gen.HealthEnvelope) ([]byte, bool) {
	ok := true
	b = append(b, `{"data":{"model":`...)
	b = appendJSONString(b, e.Data.Model)
	b = append(b, `,"run_id":`...)
	b = appendJSONString(b, e.Data.RunId)
	b = append(b, `,"uptime_seconds":`...)
	b, ok = appendJSONFloat(b, e.Data.UptimeSeconds)
	if !ok {
		return b, false
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(e.Data.Version), 10)
	b = append(b, '}')
	return appendEnvelopeFields(b, e.Message, e.Method, e.StatusCode, e.Timestamp, e.Url)
}

// appendPredictionsEnvelope appends e as encoding/json's Encoder would.
func appendPredictionsEnvelope(b []byte, e *gen.PredictionsEnvelope) ([]byte, bool) {
	ok := true
	b = append(b, `{"data":{"model":`...)
	b = appendJSONString(b, e.Data.Model)
	b = append(b, `,"predictions":`...)
	if e.Data.Predictions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range e.Data.Predictions {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendPrediction(b, &e.Data.Predictions[i]); !ok {
				return b, false
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"run_id":`...)
	b = appendJSONString(b, e.Data.RunId)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(e.Data.Version), 10)
	b = append(b, '}')
	return appendEnvelopeFields(b, e.Message, e.Method, e.StatusCode, e.Timestamp, e.Url)
}

// maxSortedKeys is how many probabilities appendPrediction sorts without
// allocating.
const maxSortedKeys = 16

func appendPrediction(b []byte, p *gen.Prediction) ([]byte, bool) {
	if p.Explanation != nil || len(p.PredictedProbabilities) > maxSortedKeys {
		return b, false
	}
	b = append(b, `{"input_text":`...)
	b = appendJSONString(b, p.InputText)
	b = append(b, `,"predicted_probabilities":`...)
	if p.PredictedProbabilities == nil {
		b = append(b, "null"...)
	} else {
		// encoding/json writes map keys in sorted order.
		var arr [maxSortedKeys]string
		keys := arr[:0]
		for k := range p.PredictedProbabilities {
			keys = append(keys, k)
		}
		for i := 1; i < len(keys); i++ {
			for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
				keys[j], keys[j-1] = keys[j-1], keys[j]
			}
		}
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var ok bool
			if b, ok = appendJSONFloat(b, p.PredictedProbabilities[k]); !ok {
				return b, false
			}
		}
		b = append(b, '}')
	}
	b = append(b, `,"predicted_tag":`...)
	b = appendJSONString(b, p.PredictedTag)
	b = append(b, `,"prediction_id":`...)
	b = appendJSONString(b, p.PredictionId)
	return append(b, '}'), true
}

// appendEnvelopeFields appends the envelope's fields after data, the
// closing brace and the newline that json.Encoder adds.
func appendEnvelopeFields(b []byte, message, method string, status int, timestamp time.Time, url string) ([]byte, bool) {
	b = append(b, `,"message":`...)
	b = appendJSONString(b, message)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, method)
	b = append(b, `,"status-code":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"timestamp":`...)
	// time.Time.MarshalJSON: RFC 3339 with nanoseconds, years 0 to 9999.
	if y := timestamp.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if _, offset := timestamp.Zone(); offset%60 != 0 || offset <= -24*3600 || offset >= 24*3600 {
		return b, false
	}
	b = append(b, '"')
	b = timestamp.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = append(b, `,"url":`...)
	b = appendJSONString(b, url)
	return append(b, "}\n"...), true
}

// appendJSONFloat appends f as encoding/json does (ES6 number
// formatting); ok is false for NaN and infinities, which JSON cannot hold.
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json does with HTML
// escaping on (json.Encoder's default): <, > and & as \u003c, \u003e,
// \u0026; U+2028 and U+2029 escaped; invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
