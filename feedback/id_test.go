package feedback

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testSigner(t testing.TB, key byte) *Signer {
	t.Helper()
	s, err := NewSigner([]byte(strings.Repeat(string([]byte{key}), KeySize)))
	require.NoError(t, err)
	return s
}

// TestIssueParse: what an id says comes back from it, for names and
// numbers at their bounds.
func TestIssueParse(t *testing.T) {
	t.Parallel()
	s := testSigner(t, 1)
	at := time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
	tests := []Claims{
		{Model: "tagifai", Version: 1, Tag: 2, Time: at, Checksum: ChecksumPrefix("a1b2c3d4e5"), Nonce: 7},
		{Model: "m", Version: 0, Tag: 0, Time: time.Unix(0, 0).UTC()},
		{Model: strings.Repeat("a", 63), Version: 1<<31 - 1, Tag: 65535, Time: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), Nonce: ^uint64(0)},
	}
	for _, c := range tests {
		id := s.Issue(c)
		assert.LessOrEqual(t, len(id), MaxIDLength)
		assert.Regexp(t, `^[A-Za-z0-9_-]+$`, id, "URL-safe")
		got, err := s.Parse(id)
		require.NoError(t, err, id)
		assert.Equal(t, c, got)
	}
	assert.Len(t, s.Issue(tests[0]), 58, "the default model's ids are short")
}

// TestParseRefuses: an altered, made-up or foreign id is refused, each
// with the error that says why.
func TestParseRefuses(t *testing.T) {
	t.Parallel()
	s, other := testSigner(t, 1), testSigner(t, 2)
	c := Claims{Model: "tagifai", Version: 3, Tag: 1, Time: time.Unix(1_800_000_000, 0).UTC(), Nonce: 42}
	id := s.Issue(c)
	raw, err := base64.RawURLEncoding.DecodeString(id)
	require.NoError(t, err)
	tests := []struct {
		name string
		id   string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"short", "abc", ErrMalformed},
		{"not base64", strings.Repeat("*", len(id)), ErrMalformed},
		{"padding", id + "==", ErrMalformed},
		{"too long", strings.Repeat("A", MaxIDLength+1), ErrMalformed},
		{"truncated", base64.RawURLEncoding.EncodeToString(raw[:len(raw)-3]), ErrForged},
		{"non-canonical encoding of the same bytes", nonCanonical(id), ErrMalformed},
		{"other key", other.Issue(c), ErrForged},
		{"random bytes", base64.RawURLEncoding.EncodeToString(make([]byte, 40)), ErrForged},
		{"a uuid", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", ErrMalformed},
		// The base64 decoder skips CR and LF: each would be another id of
		// the same prediction.
		{"a newline after", id + "\n", ErrMalformed},
		{"CR LF after", id + "\r\n", ErrMalformed},
		{"a newline inside", id[:10] + "\n" + id[10:], ErrMalformed},
		{"a CR inside", id[:5] + "\r" + id[5:], ErrMalformed},
	}
	for i := range raw { // every byte flipped
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		tests = append(tests, struct {
			name string
			id   string
			want error
		}{"flipped byte", base64.RawURLEncoding.EncodeToString(b), ErrForged})
	}
	for _, tt := range tests {
		_, err := s.Parse(tt.id)
		assert.ErrorIs(t, err, tt.want, "%s: %q", tt.name, tt.id)
	}
	// Signed, but not a v1 payload: malformed, not forged.
	bad := s.sign([]byte{9, 1, 1, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 'm'})
	_, err = s.Parse(base64.RawURLEncoding.EncodeToString(bad))
	assert.ErrorIs(t, err, ErrMalformed)
	bad = s.sign([]byte{1, 1, 1, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 'M', '/'})
	_, err = s.Parse(base64.RawURLEncoding.EncodeToString(bad))
	assert.ErrorIs(t, err, ErrMalformed, "a signed id must still name a valid model")
}

// TestNonces: reserved nonces never overlap; item nonces are stable.
func TestNonces(t *testing.T) {
	t.Parallel()
	s := testSigner(t, 1)
	a := s.Nonces(1000)
	b := s.Nonces(1)
	assert.Equal(t, a+1000, b)
	assert.Equal(t, ItemNonce("item-1"), ItemNonce("item-1"))
	assert.NotEqual(t, ItemNonce("item-1"), ItemNonce("item-2"))
	_, err := NewSigner(make([]byte, 16))
	assert.Error(t, err)
	assert.Len(t, NewKey(), KeySize)
	assert.NotEqual(t, NewKey(), NewKey())
}

func BenchmarkIssue(b *testing.B) {
	s := testSigner(b, 1)
	c := Claims{Model: "tagifai", Version: 1, Tag: 2, Time: time.Now(), Nonce: 1}
	b.ReportAllocs()
	for b.Loop() {
		c.Nonce++
		_ = s.Issue(c)
	}
}

func BenchmarkParse(b *testing.B) {
	s := testSigner(b, 1)
	id := s.Issue(Claims{Model: "tagifai", Version: 1, Tag: 2, Time: time.Now(), Nonce: 1})
	b.ReportAllocs()
	for b.Loop() {
		_, _ = s.Parse(id)
	}
}

// nonCanonical returns id with the unused low bits of its last character
// set: the same bytes to a lenient decoder, another string to a map.
func nonCanonical(id string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, id[len(id)-1])
	return id[:len(id)-1] + string(alphabet[last|1])
}
