package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/serving"
)

// Tensor names and data types of the model as the protocol sees it.
const (
	oipInputText           = "text"
	oipOutputTag           = "tag"
	oipOutputProbabilities = "probabilities"
	oipOutputLabels        = "labels"
	oipBytes               = "BYTES"
	oipFP32                = "FP32"
	oipHeaderLength        = "Inference-Header-Content-Length"
)

// oipOutputAliases maps every output name a request may use to the output
// it means: MLServer's scikit-learn runtime calls them predict and
// predict_proba.
var oipOutputAliases = map[string]string{
	oipOutputTag: oipOutputTag, "predict": oipOutputTag,
	oipOutputProbabilities: oipOutputProbabilities, "predict_proba": oipOutputProbabilities,
	oipOutputLabels: oipOutputLabels,
}

// Limits on a request, the same as POST /predict's.
const (
	oipMaxTexts     = 1000
	oipMaxTextChars = 10000
)

// oipOutput is one output to return.
type oipOutput struct {
	name           string // as requested
	kind           string // oipOutputTag, oipOutputProbabilities or oipOutputLabels
	classification int    // top-k classes as "score:index:label"; 0 for none
	binary         bool
}

// oipCall is a checked inference request.
type oipCall struct {
	id      *string
	texts   []string
	outputs []oipOutput
	timeout time.Duration
}

// rawOipCall is Triton's raw binary request: the body is the one element
// of the input.
func rawOipCall(body []byte) (*oipCall, error) {
	texts, err := checkOipTexts([]string{string(body)})
	if err != nil {
		return nil, err
	}
	return &oipCall{texts: texts, outputs: defaultOipOutputs(true)}, nil
}

func defaultOipOutputs(binary bool) []oipOutput {
	return []oipOutput{
		{name: oipOutputTag, kind: oipOutputTag, binary: binary},
		{name: oipOutputProbabilities, kind: oipOutputProbabilities, binary: binary},
		{name: oipOutputLabels, kind: oipOutputLabels, binary: binary},
	}
}

// parseOipRequest checks an inference request and extracts its texts;
// blobs holds the raw tensors that followed a binary request's JSON header.
func parseOipRequest(req *gen.OipInferenceRequest, blobs []byte) (*oipCall, error) {
	call := &oipCall{}
	if req.Id != nil {
		call.id = req.Id
	}
	binaryOutputs, err := boolParam(req.Parameters, "binary_data_output", "the request")
	if err != nil {
		return nil, err
	}
	if us, ok, err := intParam(req.Parameters, "timeout", "the request"); err != nil {
		return nil, err
	} else if ok {
		if us < 0 {
			return nil, oipErrorf(http.StatusBadRequest, "the request's parameter 'timeout' must not be negative")
		}
		call.timeout = timeoutOf(us)
	}

	if len(req.Inputs) == 0 {
		return nil, oipErrorf(http.StatusBadRequest, "the request has no inputs; the model takes one BYTES input '%s'", oipInputText)
	}
	if len(req.Inputs) > 1 {
		return nil, oipErrorf(http.StatusBadRequest, "the request has %d inputs; the model takes one, '%s'", len(req.Inputs), oipInputText)
	}
	in := req.Inputs[0]
	if in.Name != oipInputText {
		return nil, oipErrorf(http.StatusBadRequest, "unknown input '%s'; the model takes one BYTES input '%s'", clip(in.Name), oipInputText)
	}
	if in.Datatype != oipBytes {
		return nil, oipErrorf(http.StatusBadRequest, "input '%s' has datatype '%s'; the model takes %s", oipInputText, clip(in.Datatype), oipBytes)
	}
	count, err := elementCount(in.Shape)
	if err != nil {
		return nil, err
	}
	size, hasSize, err := intParam(in.Parameters, "binary_data_size", "input 'text'")
	if err != nil {
		return nil, err
	}
	var texts []string
	switch {
	case hasSize:
		if in.Data != nil {
			return nil, oipErrorf(http.StatusBadRequest, "input '%s' has both 'data' and the parameter 'binary_data_size'", oipInputText)
		}
		if size < 0 || size != int64(len(blobs)) {
			return nil, oipErrorf(http.StatusBadRequest, "input '%s' has binary_data_size %d but %d bytes follow the JSON header", oipInputText, size, len(blobs))
		}
		if texts, err = decodeBytesTensor(blobs, count); err != nil {
			return nil, err
		}
	case len(blobs) > 0:
		return nil, oipErrorf(http.StatusBadRequest, "%d bytes follow the JSON header but no input has the parameter 'binary_data_size'", len(blobs))
	case in.Data == nil:
		return nil, oipErrorf(http.StatusBadRequest, "input '%s' has no 'data'", oipInputText)
	default:
		if texts, err = flattenOipData(in.Data, count); err != nil {
			return nil, err
		}
	}
	if call.texts, err = checkOipTexts(texts); err != nil {
		return nil, err
	}

	if req.Outputs == nil {
		call.outputs = defaultOipOutputs(binaryOutputs)
		return call, nil
	}
	seen := map[string]bool{}
	for _, o := range *req.Outputs {
		kind, ok := oipOutputAliases[o.Name]
		if !ok {
			return nil, oipErrorf(http.StatusBadRequest, "unknown output '%s'; the model has 'tag' (or 'predict'), 'probabilities' (or 'predict_proba') and 'labels'", clip(o.Name))
		}
		if seen[o.Name] {
			return nil, oipErrorf(http.StatusBadRequest, "output '%s' already exists in request", o.Name)
		}
		seen[o.Name] = true
		where := "output '" + o.Name + "'"
		out := oipOutput{name: o.Name, kind: kind, binary: binaryOutputs}
		if b, ok, err := optBoolParam(o.Parameters, "binary_data", where); err != nil {
			return nil, err
		} else if ok {
			out.binary = b
		}
		k, hasK, err := intParam(o.Parameters, "classification", where)
		if err != nil {
			return nil, err
		}
		if hasK {
			if kind == oipOutputLabels {
				return nil, oipErrorf(http.StatusBadRequest, "%s: classification applies to 'tag' and 'probabilities'", where)
			}
			if k < 1 {
				return nil, oipErrorf(http.StatusBadRequest, "%s: parameter 'classification' must be at least 1", where)
			}
			out.classification = int(min(k, math.MaxInt32))
		}
		call.outputs = append(call.outputs, out)
	}
	if len(call.outputs) == 0 {
		call.outputs = defaultOipOutputs(binaryOutputs)
	}
	return call, nil
}

// elementCount checks a shape of `text`: [n], [n, 1] or [] (one element),
// each dimension non-negative, at most oipMaxTexts elements in all, and
// not empty.
func elementCount(shape []int64) (int, error) {
	for _, d := range shape {
		if d < 0 {
			return 0, oipErrorf(http.StatusBadRequest, "input '%s' has shape %s; a dimension must not be negative", oipInputText, shapeString(shape))
		}
	}
	var n int64 = 1
	switch len(shape) {
	case 0:
	case 1:
		n = shape[0]
	case 2:
		if shape[1] != 1 {
			return 0, oipErrorf(http.StatusBadRequest, "input '%s' has shape %s; the model takes [n], [n, 1] or []", oipInputText, shapeString(shape))
		}
		n = shape[0]
	default:
		return 0, oipErrorf(http.StatusBadRequest, "input '%s' has shape %s; the model takes [n], [n, 1] or []", oipInputText, shapeString(shape))
	}
	if n == 0 {
		return 0, oipErrorf(http.StatusBadRequest, "input '%s' has shape %s: an empty batch; send at least one text", oipInputText, shapeString(shape))
	}
	if n > oipMaxTexts {
		return 0, oipErrorf(http.StatusBadRequest, "input '%s' has shape %s: more than %d texts", oipInputText, shapeString(shape), oipMaxTexts)
	}
	return int(n), nil
}

func shapeString(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// flattenOipData collects the strings of a JSON tensor, flat or nested in
// row-major order, and checks that there are want of them.
func flattenOipData(data any, want int) ([]string, error) {
	out := make([]string, 0, want)
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		switch v := v.(type) {
		case string:
			if len(out) == want {
				return oipErrorf(http.StatusBadRequest, "input '%s' has more elements in 'data' than its shape holds (%d)", oipInputText, want)
			}
			out = append(out, v)
		case []any:
			if depth >= 3 {
				return oipErrorf(http.StatusBadRequest, "input '%s': 'data' is nested deeper than its shape", oipInputText)
			}
			for _, e := range v {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
		default:
			return oipErrorf(http.StatusBadRequest, "input '%s': 'data' holds a %s; BYTES elements are strings", oipInputText, jsonKind(v))
		}
		return nil
	}
	if err := walk(data, 0); err != nil {
		return nil, err
	}
	if len(out) != want {
		return nil, oipErrorf(http.StatusBadRequest, "input '%s' has %d elements in 'data' but its shape holds %d", oipInputText, len(out), want)
	}
	return out, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, json.Number, int, int64:
		return "number"
	case map[string]any:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// decodeBytesTensor reads want BYTES elements, each a 4-byte little-endian
// length followed by that many bytes, which must fill b exactly.
func decodeBytesTensor(b []byte, want int) ([]string, error) {
	out := make([]string, 0, want)
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, oipErrorf(http.StatusBadRequest, "input '%s': binary data ends inside the length of element %d", oipInputText, len(out))
		}
		n := uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
		if n > uint64(len(b)) {
			return nil, oipErrorf(http.StatusBadRequest, "input '%s': element %d is %d bytes long but only %d bytes remain", oipInputText, len(out), n, len(b))
		}
		if len(out) == want {
			return nil, oipErrorf(http.StatusBadRequest, "input '%s' has more elements in its binary data than its shape holds (%d)", oipInputText, want)
		}
		out = append(out, string(b[:n]))
		b = b[n:]
	}
	if len(out) != want {
		return nil, oipErrorf(http.StatusBadRequest, "input '%s' has %d elements in its binary data but its shape holds %d", oipInputText, len(out), want)
	}
	return out, nil
}

// encodeBytesTensor writes strings as BYTES elements.
func encodeBytesTensor(ss []string) []byte {
	size := 0
	for _, s := range ss {
		size += 4 + len(s)
	}
	out := make([]byte, 0, size)
	for _, s := range ss {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	return out
}

// checkOipTexts applies POST /predict's rules on texts.
func checkOipTexts(texts []string) ([]string, error) {
	for i, t := range texts {
		if !utf8.ValidString(t) {
			return nil, oipErrorf(http.StatusBadRequest, "input '%s': element %d is not valid UTF-8", oipInputText, i)
		}
		if strings.TrimSpace(t) == "" {
			return nil, oipErrorf(http.StatusBadRequest, "input '%s': element %d is empty or white space", oipInputText, i)
		}
		if utf8.RuneCountInString(t) > oipMaxTextChars {
			return nil, oipErrorf(http.StatusBadRequest, "input '%s': element %d is longer than %d characters", oipInputText, i, oipMaxTextChars)
		}
	}
	for i, t := range texts {
		for j, r := range t {
			// POST /predict's rule (checkTexts), in the protocol's terms.
			if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
				return nil, oipErrorf(http.StatusBadRequest, "input '%s': element %d must not contain control character %U (at byte %d)", oipInputText, i, r, j)
			}
		}
	}
	return texts, nil
}

// respond shapes the predictions as the outputs asked for.
func (c *oipCall) respond(m *serving.Version, preds []model.Prediction) (*oipInferResponse, error) {
	labels := m.Predictor.Classes()
	n, k := int64(len(preds)), int64(len(labels))
	version := strconv.Itoa(m.Version)
	r := &oipInferResponse{header: gen.OipInferenceResponse{Id: c.id, ModelName: m.Name, ModelVersion: &version}}
	r.header.Outputs = make([]gen.OipResponseOutput, 0, len(c.outputs))
	for _, o := range c.outputs {
		out := gen.OipResponseOutput{Name: o.name}
		var strs []string
		var floats []float32
		switch {
		case o.classification > 0:
			top := min(o.classification, len(labels))
			out.Datatype, out.Shape = oipBytes, []int64{n, int64(top)}
			strs = classify(preds, labels, top)
		case o.kind == oipOutputTag:
			out.Datatype, out.Shape = oipBytes, []int64{n}
			strs = make([]string, len(preds))
			for i, p := range preds {
				strs[i] = p.Tag
			}
		case o.kind == oipOutputProbabilities:
			out.Datatype, out.Shape = oipFP32, []int64{n, k}
			floats = make([]float32, 0, n*k)
			for _, p := range preds {
				for _, v := range p.Probabilities {
					floats = append(floats, float32(v))
				}
			}
		default: // labels
			out.Datatype, out.Shape = oipBytes, []int64{k}
			strs = labels
		}
		switch {
		case o.binary && out.Datatype == oipBytes:
			r.addBlob(&out, encodeBytesTensor(strs))
		case o.binary:
			blob := make([]byte, 0, 4*len(floats))
			for _, f := range floats {
				blob = binary.LittleEndian.AppendUint32(blob, math.Float32bits(f))
			}
			r.addBlob(&out, blob)
		case out.Datatype == oipBytes:
			data := make([]any, len(strs))
			for i, s := range strs {
				data[i] = s
			}
			out.Data = &data
		default:
			data := make([]any, len(floats))
			for i, f := range floats {
				data[i] = f
			}
			out.Data = &data
		}
		r.header.Outputs = append(r.header.Outputs, out)
	}
	return r, nil
}

func (r *oipInferResponse) addBlob(out *gen.OipResponseOutput, blob []byte) {
	out.Parameters = &gen.OipParameters{"binary_data_size": len(blob)}
	r.blobs = append(r.blobs, blob)
}

// classify answers Triton's classification extension: for each prediction
// the top classes, best first, as "score:index:label" (ties by index).
func classify(preds []model.Prediction, labels []string, top int) []string {
	out := make([]string, 0, len(preds)*top)
	idx := make([]int, len(labels))
	for _, p := range preds {
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return p.Probabilities[idx[a]] > p.Probabilities[idx[b]] })
		for _, i := range idx[:top] {
			out = append(out, strconv.FormatFloat(float64(float32(p.Probabilities[i])), 'f', 6, 32)+":"+strconv.Itoa(i)+":"+labels[i])
		}
	}
	return out
}

// boolParam reads an optional boolean parameter; absent is false.
func boolParam(p *gen.OipParameters, name, where string) (bool, error) {
	b, _, err := optBoolParam(p, name, where)
	return b, err
}

// optBoolParam reads an optional boolean parameter and says whether it was
// given.
func optBoolParam(p *gen.OipParameters, name, where string) (value, given bool, err error) {
	if p == nil {
		return false, false, nil
	}
	v, ok := (*p)[name]
	if !ok {
		return false, false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, false, oipErrorf(http.StatusBadRequest, "%s: parameter '%s' must be a boolean", where, name)
	}
	return b, true, nil
}

// intParam reads an optional integer parameter: any integral JSON number
// (7, 7.0, 7e0), read exactly, those beyond int64 saturating at its
// bounds, so that a huge value is huge rather than refused or wrapped.
func intParam(p *gen.OipParameters, name, where string) (int64, bool, error) {
	if p == nil {
		return 0, false, nil
	}
	v, ok := (*p)[name]
	if !ok {
		return 0, false, nil
	}
	if i, ok := jsonInt(v); ok {
		return i, true, nil
	}
	return 0, false, oipErrorf(http.StatusBadRequest, "%s: parameter '%s' must be an integer", where, name)
}

// jsonInt reads a decoded JSON number that is an integer, saturating at
// the bounds of int64; ok is false for anything else.
func jsonInt(v any) (int64, bool) {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, true
		}
		// Beyond int64, or written with a fraction or an exponent: exact
		// arithmetic says whether it is an integer, on a number of bounded
		// size (the cost of big.Rat grows with the digits and the exponent,
		// and a body may hold millions of them).
		if len(v) > maxJSONIntChars {
			return 0, false
		}
		mantissa, exp, _ := strings.Cut(strings.ToLower(string(v)), "e")
		if e, err := strconv.Atoi(exp); exp != "" && (err != nil || e > maxJSONIntExp || e < -maxJSONIntExp) {
			if strings.Trim(mantissa, "-+0.") == "" {
				return 0, true // zero, whatever its exponent
			}
			if err != nil || e < 0 {
				return 0, false // far below 1: no integer but 0
			}
			if strings.HasPrefix(mantissa, "-") { // far beyond int64
				return math.MinInt64, true
			}
			return math.MaxInt64, true
		}
		r, ok := new(big.Rat).SetString(string(v))
		if !ok || !r.IsInt() {
			return 0, false
		}
		return saturate(r.Num()), true
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) || v != math.Trunc(v) {
			return 0, false
		}
		i, _ := big.NewFloat(v).Int(nil)
		return saturate(i), true
	case int64:
		return v, true
	case int:
		return int64(v), true
	}
	return 0, false
}

// Bounds of a JSON number jsonInt reads exactly.
const (
	maxJSONIntChars = 64
	maxJSONIntExp   = 64
)

// saturate bounds i to int64.
func saturate(i *big.Int) int64 {
	switch {
	case i.IsInt64():
		return i.Int64()
	case i.Sign() > 0:
		return math.MaxInt64
	default:
		return math.MinInt64
	}
}

// clip bounds a client's string quoted in an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}
