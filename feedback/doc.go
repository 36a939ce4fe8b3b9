// Package feedback turns ground truth sent back by clients into live
// performance: it issues and checks prediction ids, and scores the
// feedback joined with the predictions those ids carry.
//
// # Prediction ids
//
// A prediction id is a compact token that carries what the server needs
// to join feedback with the prediction it is about, so that issuing one
// costs no database write on the request path:
//
//	payload = format (1 byte, 1)
//	        ‖ uvarint(model version) ‖ uvarint(predicted tag index)
//	        ‖ uvarint(Unix seconds of the prediction)
//	        ‖ first 4 bytes of the artifact's SHA-256 (the version's bytes)
//	        ‖ 8-byte nonce ‖ model name (the rest)
//	id      = base64url(payload ‖ first 16 bytes of HMAC-SHA256(key, payload))
//
// (RFC 2104, RFC 4648 §5, no padding.) The key is created once and kept in
// the registry's database, so that every replica sharing it issues and
// accepts the same ids. The MAC is truncated to 128 bits (NIST SP 800-107
// §5.3.3 allows truncation to at least 64 bits for HMAC): forging an id
// means guessing it, one in 2^128 per try. The nonce makes each id unique:
// a per-process random start and a counter for live predictions, a hash
// of the item id for stored batch predictions (so that a stored prediction
// always has the same id). An id is readable by whoever holds it (it is
// not encrypted): it tells the model, version, predicted tag and time,
// which the response it came in said already.
//
// # Live performance
//
// Score computes precision, recall and F1 from the counts of (predicted,
// true) pairs, exactly as model.Score does from the lists of labels, so
// that feedback on the holdout's predictions gives the holdout's figures.
package feedback
