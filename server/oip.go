package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tagifai/tagifai/gen"
)

// The Open Inference Protocol (KServe V2, Triton) under /v2: kserve/kserve
// docs/predict-api/v2/required_api.md, with Triton's binary tensor data
// and classification extensions. Its responses are the protocol's objects,
// not the envelope, and its errors are {"error": "..."} (see oip_http.go).

// oipServerName and oipServerVersion are what GET /v2 reports.
const (
	oipServerName    = "tagifai"
	oipServerVersion = "1.0.0"
	oipPlatform      = "tagifai"
)

// oipExtensions are the protocol extensions the server supports.
var oipExtensions = []string{"binary_tensor_data", "classification"}

// OipServerMetadata implements GET /v2.
func (s *Server) OipServerMetadata(context.Context, gen.OipServerMetadataRequestObject) (gen.OipServerMetadataResponseObject, error) {
	return gen.OipServerMetadata200JSONResponse{Name: oipServerName, Version: oipServerVersion, Extensions: oipExtensions}, nil
}

// OipServerLive implements GET /v2/health/live.
func (s *Server) OipServerLive(context.Context, gen.OipServerLiveRequestObject) (gen.OipServerLiveResponseObject, error) {
	return gen.OipServerLive200JSONResponse{Live: true}, nil
}

// OipServerReady implements GET /v2/health/ready: ready exactly when GET
// /health/ready is.
func (s *Server) OipServerReady(ctx context.Context, _ gen.OipServerReadyRequestObject) (gen.OipServerReadyResponseObject, error) {
	if _, err := s.Readiness(ctx, gen.ReadinessRequestObject{}); err != nil {
		return nil, err
	}
	return gen.OipServerReady200JSONResponse{Ready: true}, nil
}

// OipModelMetadata implements GET /v2/models/{model-name}.
func (s *Server) OipModelMetadata(ctx context.Context, req gen.OipModelMetadataRequestObject) (gen.OipModelMetadataResponseObject, error) {
	md, err := s.oipMetadata(ctx, req.ModelName, "")
	if err != nil {
		return nil, err
	}
	return gen.OipModelMetadata200JSONResponse(md), nil
}

// OipModelVersionMetadata implements GET /v2/models/{model-name}/versions/{version}.
func (s *Server) OipModelVersionMetadata(ctx context.Context, req gen.OipModelVersionMetadataRequestObject) (gen.OipModelVersionMetadataResponseObject, error) {
	md, err := s.oipMetadata(ctx, req.ModelName, req.Version)
	if err != nil {
		return nil, err
	}
	return gen.OipModelVersionMetadata200JSONResponse(md), nil
}

func (s *Server) oipMetadata(ctx context.Context, name, version string) (gen.OipModelMetadata, error) {
	m, err := s.oipModel(ctx, name, version)
	if err != nil {
		return gen.OipModelMetadata{}, err
	}
	versions, err := s.oipVersions(ctx, m)
	if err != nil {
		return gen.OipModelMetadata{}, err
	}
	labels := m.Predictor.Classes()
	k := int64(len(labels))
	return gen.OipModelMetadata{
		Name: m.Name, Versions: &versions, Platform: oipPlatform,
		Inputs: []gen.OipTensorMetadata{{Name: oipInputText, Datatype: oipBytes, Shape: []int64{-1}}},
		Outputs: []gen.OipTensorMetadata{
			{Name: oipOutputTag, Datatype: oipBytes, Shape: []int64{-1}},
			{Name: oipOutputProbabilities, Datatype: oipFP32, Shape: []int64{-1, k}},
			{Name: oipOutputLabels, Datatype: oipBytes, Shape: []int64{k}},
		},
		Parameters: &gen.OipModelParameters{Version: strconv.Itoa(m.Version), Labels: labels},
	}, nil
}

// OipModelReady implements GET /v2/models/{model-name}/ready.
func (s *Server) OipModelReady(ctx context.Context, req gen.OipModelReadyRequestObject) (gen.OipModelReadyResponseObject, error) {
	m, err := s.oipModel(ctx, req.ModelName, "")
	if err != nil {
		return nil, err
	}
	return gen.OipModelReady200JSONResponse{Name: &m.Name, Ready: true}, nil
}

// OipModelVersionReady implements GET /v2/models/{model-name}/versions/{version}/ready.
func (s *Server) OipModelVersionReady(ctx context.Context, req gen.OipModelVersionReadyRequestObject) (gen.OipModelVersionReadyResponseObject, error) {
	m, err := s.oipModel(ctx, req.ModelName, req.Version)
	if err != nil {
		return nil, err
	}
	return gen.OipModelVersionReady200JSONResponse{Name: &m.Name, Ready: true}, nil
}

// OipModelConfig implements GET /v2/models/{model-name}/config: a minimal
// Triton model configuration. With max_batch_size > 0 Triton's dims leave
// out the batch dimension: `text` is [batch, 1], as perf_analyzer sends it.
func (s *Server) OipModelConfig(ctx context.Context, req gen.OipModelConfigRequestObject) (gen.OipModelConfigResponseObject, error) {
	cfg, err := s.oipConfig(ctx, req.ModelName, "")
	if err != nil {
		return nil, err
	}
	return gen.OipModelConfig200JSONResponse(cfg), nil
}

// OipModelVersionConfig implements GET /v2/models/{model-name}/versions/{version}/config.
func (s *Server) OipModelVersionConfig(ctx context.Context, req gen.OipModelVersionConfigRequestObject) (gen.OipModelVersionConfigResponseObject, error) {
	cfg, err := s.oipConfig(ctx, req.ModelName, req.Version)
	if err != nil {
		return nil, err
	}
	return gen.OipModelVersionConfig200JSONResponse(cfg), nil
}

func (s *Server) oipConfig(ctx context.Context, name, version string) (gen.OipModelConfig, error) {
	m, err := s.oipModel(ctx, name, version)
	if err != nil {
		return gen.OipModelConfig{}, err
	}
	k := int64(len(m.Predictor.Classes()))
	return gen.OipModelConfig{
		Name: m.Name, Platform: oipPlatform, Backend: oipPlatform, MaxBatchSize: oipMaxTexts,
		Input: []gen.OipConfigTensor{{Name: oipInputText, DataType: "TYPE_STRING", Dims: []int64{1}}},
		Output: []gen.OipConfigTensor{
			{Name: oipOutputTag, DataType: "TYPE_STRING", Dims: []int64{1}},
			{Name: oipOutputProbabilities, DataType: "TYPE_FP32", Dims: []int64{k}},
		},
	}, nil
}

// OipInfer implements POST /v2/models/{model-name}/infer.
func (s *Server) OipInfer(ctx context.Context, req gen.OipInferRequestObject) (gen.OipInferResponseObject, error) {
	r, err := s.oipInfer(ctx, req.ModelName, "", req.JSONBody, req.Body, req.Params.InferenceHeaderContentLength)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// OipVersionInfer implements POST /v2/models/{model-name}/versions/{version}/infer.
func (s *Server) OipVersionInfer(ctx context.Context, req gen.OipVersionInferRequestObject) (gen.OipVersionInferResponseObject, error) {
	r, err := s.oipInfer(ctx, req.ModelName, req.Version, req.JSONBody, req.Body, req.Params.InferenceHeaderContentLength)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// oipInfer answers an inference request, given either its JSON body or,
// for the binary tensor data extension, the raw body and the length of its
// JSON header.
func (s *Server) oipInfer(ctx context.Context, name, version string, jsonBody *gen.OipInferenceRequest, raw io.Reader, headerLength *int64) (*oipInferResponse, error) {
	var call *oipCall
	var err error
	if jsonBody != nil {
		call, err = parseOipRequest(jsonBody, nil)
	} else {
		call, err = parseOipBinary(raw, headerLength)
	}
	if err != nil {
		return nil, err
	}
	m, err := s.oipModel(ctx, name, version)
	if err != nil {
		return nil, err
	}
	if version == "" { // the serving version's traffic: a canary may answer
		if routed, err := s.serving.Route(ctx); err == nil && routed.Name == m.Name {
			m = routed
		}
	}
	start := time.Now()
	if call.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, call.timeout)
		defer cancel()
	}
	preds, err := s.oipPredict(ctx, m, call.texts)
	if errors.Is(err, context.DeadlineExceeded) && call.timeout > 0 {
		return nil, oipErrorf(http.StatusServiceUnavailable, "request timeout of %d microseconds expired", call.timeout.Microseconds())
	}
	if err != nil {
		return nil, err
	}
	if version == "" {
		took := time.Since(start)
		tags := make([]string, len(preds))
		for i, p := range preds {
			tags[i] = p.Tag
		}
		s.serving.ReportRouted(m, call.texts, tags, took)
	}
	return call.respond(m, preds)
}

// parseOipBinary reads a body of the binary tensor data extension: a JSON
// header of headerLength bytes, then the raw tensors. The middleware
// (oipBody) has already checked that headerLength is within the body.
func parseOipBinary(raw io.Reader, headerLength *int64) (*oipCall, error) {
	if raw == nil {
		return nil, oipErrorf(http.StatusBadRequest, "the body is missing")
	}
	body, err := io.ReadAll(raw)
	if err != nil {
		return nil, oipErrorf(http.StatusBadRequest, "the body could not be read")
	}
	if headerLength == nil {
		return nil, oipErrorf(http.StatusBadRequest, "a binary body needs the header %s", oipHeaderLength)
	}
	n := *headerLength
	if n < 0 || n > int64(len(body)) {
		return nil, oipErrorf(http.StatusBadRequest, "Inference-Header-Content-Length %d is beyond the body of %d bytes", n, len(body))
	}
	if n == 0 {
		// Triton's raw binary request: no header, the whole body is the
		// one element of the one input.
		return rawOipCall(body)
	}
	// As the body guard does for a JSON body: an array far over a batch
	// is refused before the schema walks each of its elements.
	if arrayLongerThan(body[:n], 2*oipMaxTexts) {
		return nil, oipErrorf(http.StatusBadRequest, "an array in the JSON header has more than %d elements; an inference request has at most %d texts", 2*oipMaxTexts, oipMaxTexts)
	}
	var value any
	dec := json.NewDecoder(bytes.NewReader(body[:n]))
	dec.UseNumber()
	if err := dec.Decode(&value); err != nil {
		return nil, oipErrorf(http.StatusBadRequest, "the JSON header is not a valid inference request: %s", jsonErrorMessage(err))
	}
	if dec.More() {
		return nil, oipErrorf(http.StatusBadRequest, "the JSON header has data after its object")
	}
	req, err := checkOipHeader(value, body[:n])
	if err != nil {
		return nil, err
	}
	return parseOipRequest(req, body[n:])
}

// oipRequestSchema is the spec's OipInferenceRequest, which a JSON body is
// validated against before any handler runs.
var oipRequestSchema = sync.OnceValues(func() (*openapi3.Schema, error) { return componentSchema("OipInferenceRequest") })

// checkOipHeader applies to the JSON header of a binary request what the
// validator applies to a JSON body: the OipInferenceRequest schema, its
// errors in the same words ("body.inputs.0.shape: field is required").
// value is the header decoded, raw its bytes.
func checkOipHeader(value any, raw []byte) (*gen.OipInferenceRequest, error) {
	schema, err := oipRequestSchema()
	if err != nil {
		return nil, err
	}
	if err := schema.VisitJSON(value, openapi3.MultiErrors()); err != nil {
		var schemaErrs []*openapi3.SchemaError
		collectSchemaErrors(err, &schemaErrs)
		if len(schemaErrs) == 0 {
			return nil, oipErrorf(http.StatusBadRequest, "body: does not match the schema of an inference request")
		}
		msgs := make([]string, 0, len(schemaErrs))
		seen := map[string]bool{}
		for _, se := range schemaErrs {
			// One problem per location, as for a JSON body (requestProblems).
			p := schemaProblem([]string{"body"}, se)
			if where := strings.Join(p.Location, "."); !seen[where] {
				seen[where] = true
				msgs = append(msgs, where+": "+p.Message)
			}
		}
		return nil, oipErrorf(http.StatusBadRequest, "%s", strings.Join(msgs, "; "))
	}
	var req gen.OipInferenceRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		// Valid against the schema, so only an integer written as 1.0 or
		// 1e0, which JSON Schema takes and Go does not.
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return nil, oipIntegerError(ute)
		}
		return nil, oipErrorf(http.StatusBadRequest, "the JSON header is not a valid inference request")
	}
	return &req, nil
}

// oipIntegerError answers a JSON value that Go could not decode into the
// request once the schema had taken it: an integer written with a fraction
// or an exponent (1.0, 1e0), which JSON Schema calls an integer.
func oipIntegerError(ute *json.UnmarshalTypeError) *oipError {
	where := "body"
	if ute.Field != "" {
		where += "." + ute.Field
	}
	return oipErrorf(http.StatusBadRequest, "%s: must hold integers written without a fraction or exponent (1, not 1.0 or 1e0)", where)
}

// oipInferResponse is an inference response, written as JSON or, when an
// output is binary, as a JSON header followed by the raw outputs.
type oipInferResponse struct {
	header gen.OipInferenceResponse
	blobs  [][]byte
}

func (r *oipInferResponse) VisitOipInferResponse(w http.ResponseWriter) error { return r.write(w) }

func (r *oipInferResponse) VisitOipVersionInferResponse(w http.ResponseWriter) error {
	return r.write(w)
}

func (r *oipInferResponse) write(w http.ResponseWriter) error {
	header, err := json.Marshal(r.header)
	if err != nil {
		return fmt.Errorf("server: encode inference response: %w", err)
	}
	size := len(header)
	for _, b := range r.blobs {
		size += len(b)
	}
	if len(r.blobs) == 0 {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set(oipHeaderLength, strconv.Itoa(len(header)))
	}
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(header); err != nil {
		return err
	}
	for _, b := range r.blobs {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// oipMaxTimeout bounds the protocol's `timeout` parameter: the server's
// write timeout cuts every response off by then in any case.
const oipMaxTimeout = writeTimeout

// timeoutOf converts the protocol's `timeout` parameter, a non-negative
// number of microseconds, clamped to oipMaxTimeout (so that no value
// overflows time.Duration's nanoseconds).
func timeoutOf(us int64) time.Duration {
	if us > oipMaxTimeout.Microseconds() {
		return oipMaxTimeout
	}
	return time.Duration(us) * time.Microsecond
}
