package feedback

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// KeySize is the size of a signing key: 256 bits, HMAC-SHA256's block
// of security.
const KeySize = 32

// Token layout (see the package documentation).
const (
	formatV1     = 1
	macSize      = 16
	checksumSize = 4
	nonceSize    = 8
	// MaxIDLength bounds the length of a prediction id this package
	// issues (a model name of 63 bytes, every varint at its longest).
	MaxIDLength = (1 + 3*binary.MaxVarintLen64 + checksumSize + nonceSize + maxModelName + macSize + 2) / 3 * 4
	minPayload  = 1 + 3 + checksumSize + nonceSize + 1
	maxModel    = 1<<31 - 1
	maxSeconds  = 1 << 40
)

const maxModelName = 63

// modelName is what registry.ValidName accepts.
var modelName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Claims are what a prediction id says of its prediction.
type Claims struct {
	// Model and Version name the model version that predicted.
	Model   string
	Version int
	// Tag is the index of the predicted tag: into the version's classes,
	// or the number of classes for "other" when it is not a class.
	Tag int
	// Time is when the prediction was made, to the second.
	Time time.Time
	// Checksum is the first 4 bytes of the artifact's SHA-256: it tells
	// the version from another uploaded later under the same number.
	Checksum [checksumSize]byte
	// Nonce makes the id unique.
	Nonce uint64
}

// Errors of Parse.
var (
	// ErrMalformed: the id is not one this package issues.
	ErrMalformed = errors.New("feedback: malformed prediction id")
	// ErrForged: the id's signature does not match: it was altered, made
	// up, or signed with another key.
	ErrForged = errors.New("feedback: prediction id with a wrong signature")
)

// Signer issues and checks prediction ids with one key. It is safe for
// concurrent use.
type Signer struct {
	key  []byte
	macs sync.Pool // of *mac
	seq  atomic.Uint64
}

// mac is a reusable HMAC and the buffer of its sum.
type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// NewKey returns a new random key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	_, _ = rand.Read(k) // never fails (crypto/rand)
	return k
}

// NewSigner returns a signer with key, which must be KeySize bytes or
// more.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < KeySize {
		return nil, errors.New("feedback: key shorter than 32 bytes")
	}
	s := &Signer{key: append([]byte(nil), key...)}
	s.macs.New = func() any { return &mac{h: hmac.New(sha256.New, s.key)} }
	var b [8]byte
	_, _ = rand.Read(b[:])
	s.seq.Store(binary.LittleEndian.Uint64(b[:]))
	return s, nil
}

// Nonces reserves n consecutive nonces for live predictions and returns
// the first; they are unique among this signer's (a random start) and,
// with overwhelming probability, among all replicas'.
func (s *Signer) Nonces(n int) uint64 { return s.seq.Add(uint64(n)) - uint64(n) }

// ItemNonce is the nonce of a stored prediction of item: the same id every
// time the prediction is read.
func ItemNonce(item string) uint64 {
	sum := sha256.Sum256([]byte(item))
	return binary.LittleEndian.Uint64(sum[:8])
}

// ChecksumPrefix returns the first bytes of a hex SHA-256 checksum, zero
// when it is not one (a model that did not come from the registry).
func ChecksumPrefix(hexSum string) [checksumSize]byte {
	var out [checksumSize]byte
	if len(hexSum) >= 2*checksumSize {
		_, _ = hex.Decode(out[:], []byte(hexSum[:2*checksumSize]))
	}
	return out
}

// Issue returns the prediction id of c. c.Model must be a valid model
// name and c.Version and c.Tag non-negative.
func (s *Signer) Issue(c Claims) string {
	var buf [MaxIDLength]byte
	b := buf[:0]
	b = append(b, formatV1)
	b = binary.AppendUvarint(b, uint64(c.Version))
	b = binary.AppendUvarint(b, uint64(c.Tag))
	b = binary.AppendUvarint(b, uint64(max(c.Time.Unix(), 0)))
	b = append(b, c.Checksum[:]...)
	b = binary.LittleEndian.AppendUint64(b, c.Nonce)
	b = append(b, c.Model...)
	b = s.sign(b)
	var out [MaxIDLength]byte
	n := base64.RawURLEncoding.EncodedLen(len(b))
	base64.RawURLEncoding.Encode(out[:n], b)
	return string(out[:n])
}

// sign appends the truncated MAC of payload to it.
func (s *Signer) sign(payload []byte) []byte {
	m := s.macs.Get().(*mac)
	m.h.Reset()
	m.h.Write(payload)
	out := append(payload, m.h.Sum(m.sum[:0])[:macSize]...)
	s.macs.Put(m)
	return out
}

// Parse checks id's signature and returns its claims: ErrMalformed when
// it is not shaped like an id, ErrForged when its signature is wrong.
func (s *Signer) Parse(id string) (Claims, error) {
	if len(id) > MaxIDLength || len(id) < (minPayload+macSize)*4/3 {
		return Claims{}, ErrMalformed
	}
	// The decoder skips CR and LF, so "id\n" would decode as id: one
	// prediction would have many ids, and many first labels.
	if strings.ContainsAny(id, "\r\n") {
		return Claims{}, ErrMalformed
	}
	var buf [MaxIDLength]byte
	n, err := base64.RawURLEncoding.Strict().Decode(buf[:], []byte(id))
	if err != nil || n < minPayload+macSize {
		return Claims{}, ErrMalformed
	}
	raw := buf[:n]
	payload, mac := raw[:n-macSize], raw[n-macSize:]
	var check [MaxIDLength]byte
	want := s.sign(append(check[:0], payload...))[len(payload):]
	if !hmac.Equal(mac, want) {
		return Claims{}, ErrForged
	}
	// Signed by us: well formed unless the format changed.
	if payload[0] != formatV1 {
		return Claims{}, ErrMalformed
	}
	p := payload[1:]
	var fields [3]uint64
	for i, limit := range [3]uint64{maxModel, maxModel, maxSeconds} {
		v, k := binary.Uvarint(p)
		if k <= 0 || v > limit {
			return Claims{}, ErrMalformed
		}
		fields[i], p = v, p[k:]
	}
	if len(p) < checksumSize+nonceSize+1 {
		return Claims{}, ErrMalformed
	}
	c := Claims{Version: int(fields[0]), Tag: int(fields[1]), Time: time.Unix(int64(fields[2]), 0).UTC()}
	copy(c.Checksum[:], p)
	c.Nonce = binary.LittleEndian.Uint64(p[checksumSize:])
	c.Model = string(p[checksumSize+nonceSize:])
	if !modelName.MatchString(c.Model) {
		return Claims{}, ErrMalformed
	}
	return c, nil
}
