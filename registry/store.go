package registry

import (
	"context"
	"time"
)

// Store is what a Registry needs of its database: the metadata of models,
// versions and users, and a copy of each artifact's bytes. Every method is
// one transaction. SQLStore implements it on SQLite and PostgreSQL; it
// also keeps batch jobs and stored predictions, which their own consumers
// (the batch runner, the server, the serving lifecycle) reach through
// interfaces of their own.
type Store interface {
	// Models lists the models by name.
	Models(ctx context.Context) ([]Model, error)
	// Model returns one model; ENOTFOUND when there is none.
	Model(ctx context.Context, name string) (Model, error)
	// Versions lists a model's versions, oldest first; ENOTFOUND for an
	// unknown model.
	Versions(ctx context.Context, name string) ([]Version, error)
	// Version returns one version; ENOTFOUND when there is none.
	Version(ctx context.Context, name string, version int) (Version, error)
	// CreateVersion records a new version and the bytes of its artifact,
	// creating its model if needed; ECONFLICT when the version exists;
	// with an If-Match in ctx (WithIfMatch), EPRECONDITION unless the model
	// exists at one of its revisions.
	CreateVersion(ctx context.Context, v Version, artifact []byte) error
	// Artifact returns the bytes of a version's artifact; ENOTFOUND when
	// the store has none (a version recorded before it kept them).
	Artifact(ctx context.Context, name string, version int) ([]byte, error)
	// HasArtifact reports whether the store has the bytes of a version's
	// artifact.
	HasArtifact(ctx context.Context, name string, version int) (bool, error)
	// PutArtifact records the bytes of an existing version's artifact
	// unless it has them already.
	PutArtifact(ctx context.Context, name string, version int, artifact []byte) error
	// DeleteVersion removes a version, its artifact and its stored
	// predictions; ECONFLICT when it is serving or has batch jobs queued or
	// running.
	DeleteVersion(ctx context.Context, name string, version int) error
	// SetServing makes version the serving version of model name.
	SetServing(ctx context.Context, name string, version int) error
	// CreateUser records a user with the hash of their key; ECONFLICT when
	// an active user has the name.
	CreateUser(ctx context.Context, u User, keyHash string) (User, error)
	// UserByKeyHash returns the active user whose key hashes to keyHash;
	// ENOTFOUND when there is none.
	UserByKeyHash(ctx context.Context, keyHash string) (User, error)
}

var _ Store = (*SQLStore)(nil)

// User is someone who holds an API key.
type User struct {
	Name      string
	Role      Role
	CreatedAt time.Time
	RevokedAt *time.Time
	keyHash   string // set by the store on lookups by key
}

// ServingWatcher is a database that announces changes of serving versions as
// they are made, so that replicas sharing its database follow a deployment
// or a rollback at once rather than at their next look.
type ServingWatcher interface {
	// WatchServing listens for changes of serving versions made through
	// any store on the same database. It calls changed with "" once it
	// listens (what changed before is not announced: read it then), and
	// with a model's name each time that model's serving version changes,
	// from one goroutine, until ctx is done or the connection fails, and
	// returns why it stopped. errors.ErrUnsupported when the database
	// cannot announce changes.
	WatchServing(ctx context.Context, changed func(model string)) error
}
