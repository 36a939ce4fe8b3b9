package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Role is what a user may do. Each role may do everything the roles below
// it may: admin > predictor > viewer.
type Role string

// The roles, from most to least privileged.
const (
	RoleAdmin     Role = "admin"
	RolePredictor Role = "predictor"
	RoleViewer    Role = "viewer"
)

var roleRank = map[Role]int{RoleViewer: 1, RolePredictor: 2, RoleAdmin: 3}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return roleRank[r] > 0 }

// Allows reports whether a user with role r may do what needs role need.
func (r Role) Allows(need Role) bool { return roleRank[r] > 0 && roleRank[r] >= roleRank[need] }

// keyPrefix marks tagifai API keys, so that a leaked key is recognisable
// (secret scanners match on such prefixes).
const keyPrefix = "tgf_"

// NewKey returns a new random API key: 256 bits from crypto/rand.
func NewKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashKey returns what the store keeps of key. Keys carry 256 random bits,
// so a fast hash is enough: there is nothing to guess by brute force, and
// lookups stay cheap on every request.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// CreateUser makes a user with role and returns them with their key, which
// is shown this once and stored only as a hash.
func (r *Registry) CreateUser(ctx context.Context, name string, role Role) (User, string, error) {
	if !ValidName(name) {
		return User{}, "", Errorf(EINVALID, "user name %q must be 1 to 63 lower-case letters, digits and dashes", name)
	}
	if ReservedUserName(name) {
		return User{}, "", Errorf(EINVALID, "user name %q is reserved: the audit trail records changes no user made under it", name)
	}
	if !role.Valid() {
		return User{}, "", Errorf(EINVALID, "role %q must be admin, predictor or viewer", role)
	}
	key := NewKey()
	u, err := r.store.CreateUser(ctx, User{Name: name, Role: role, CreatedAt: r.now().UTC()}, HashKey(key))
	if err != nil {
		return User{}, "", err
	}
	return u, key, nil
}

// Authenticate returns the active user whose key is key; ENOTFOUND when
// there is none. The stored hash is compared in constant time.
func (r *Registry) Authenticate(ctx context.Context, key string) (User, error) {
	if !strings.HasPrefix(key, keyPrefix) || len(key) > 128 {
		return User{}, Errorf(ENOTFOUND, "unknown API key")
	}
	hash := HashKey(key)
	u, err := r.store.UserByKeyHash(ctx, hash)
	if err != nil {
		return User{}, err
	}
	// The lookup matched on the hash already; comparing again in constant
	// time keeps a store that matches loosely (a prefix index, a collation)
	// from admitting a near miss.
	if subtle.ConstantTimeCompare([]byte(hash), []byte(u.keyHash)) != 1 {
		return User{}, Errorf(ENOTFOUND, "unknown API key")
	}
	return u, nil
}
