// Package registry keeps the versions of trained models and the users who
// may use them: metadata (models, versions, the serving pointer, users) in a
// SQL database behind Store, and the artifact files themselves in a
// directory. It imports no web code.
package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/renameio/v2"

	"github.com/tagifai/tagifai/model"
)

// Error codes, in the manner of an application error: the web layer maps
// each to one HTTP status.
const (
	ENOTFOUND = "not_found"
	ECONFLICT = "conflict"
	EINVALID  = "invalid"
)

// Error is an error the caller caused.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "registry: " + e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err when it is an *Error, and "" otherwise.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Model is a named model and which of its versions serves.
type Model struct {
	Name string
	// ServingVersion is the version that answers predictions; 0 for none.
	ServingVersion int
	VersionCount   int
	CreatedAt      time.Time
	// Revision moves on with every change of the model, its versions, its
	// serving version or its rollout; the API's ETag.
	Revision int64
}

// Version is one uploaded artifact of a model.
type Version struct {
	Model       string
	Version     int
	Checksum    string // hex SHA-256 of the artifact file
	Size        int64  // bytes of the artifact file
	RunID       string
	Classes     []string
	Args        json.RawMessage // model.Args as JSON
	Performance json.RawMessage // model.Performance as JSON
	CreatedAt   time.Time
	UploadedBy  string
	Serving     bool
}

// namePattern is what a model name may look like: it becomes part of a URL
// path and of a directory name.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidName reports whether name can name a model.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// MaxArtifactBytes bounds an uploaded artifact.
const MaxArtifactBytes = 64 << 20

// Registry stores model versions: metadata and each artifact's bytes in a
// Store, and a local copy of each artifact as a file under a directory.
//
// The files always match the database. A file is written to a temporary
// name first and renamed into place only after the database has committed
// its version, so neither a crash nor a lost race for a version leaves a
// file the database does not vouch for; files replaced, written or removed
// on this replica are changed one at a time (files), each after checking
// the database; and at start-up (Verify) files of versions the database
// no longer has are removed. A file is a cache: when it is missing or
// stale, the bytes come from the database.
type Registry struct {
	store Store
	dir   string
	log   *slog.Logger
	now   func() time.Time
	// files serialises changes of artifact files with the database
	// changes they follow.
	files sync.Mutex
}

// LeftoverAge is how old the temporary file of an upload must be for New
// to take it for the remains of a crash and remove it.
const LeftoverAge = 10 * time.Minute

// New returns a registry over store that keeps artifact files under dir.
func New(store Store, dir string, log *slog.Logger) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	// Temporary files of writes that a crash interrupted are garbage; a
	// recent one may be the upload of a server running beside this
	// process (`tagifai users create` while `tagifai serve` runs), whose
	// file lives from its write to its rename after the database commits.
	leftovers, err := filepath.Glob(filepath.Join(dir, "*", ".*"))
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	for _, f := range leftovers {
		if st, err := os.Lstat(f); err != nil || time.Since(st.ModTime()) < LeftoverAge {
			continue
		}
		if err := os.Remove(f); err != nil {
			return nil, fmt.Errorf("registry: remove interrupted upload: %w", err)
		}
		log.Warn("removed the file of an interrupted upload", slog.String("file", f))
	}
	return &Registry{store: store, dir: dir, log: log, now: time.Now}, nil
}

// artifactExt ends the names of artifact files.
const artifactExt = ".tagifai"

func (r *Registry) path(name string, version int) string {
	return filepath.Join(r.dir, name, strconv.Itoa(version)+artifactExt)
}

// Upload stores data as version of model name, creating the model if it is
// new. Uploading the same bytes again is not an error (created is false);
// different bytes for an existing version are a conflict. data must decode
// as an artifact; nothing is changed when it does not.
func (r *Registry) Upload(ctx context.Context, name string, version int, data []byte, uploadedBy string) (v Version, created bool, err error) {
	if !ValidName(name) {
		return Version{}, false, Errorf(EINVALID, "model name %q must be 1 to 63 lower-case letters, digits and dashes", name)
	}
	if version < 1 {
		return Version{}, false, Errorf(EINVALID, "version must be a positive integer, got %d", version)
	}
	sum := checksum(data)

	existing, err := r.store.Version(ctx, name, version)
	switch {
	case err == nil && existing.Checksum == sum:
		return existing, false, nil
	case err == nil:
		return Version{}, false, Errorf(ECONFLICT, "version %d of %s exists with other content (sha256 %s); upload under a new version", version, name, existing.Checksum)
	case ErrorCode(err) != ENOTFOUND:
		return Version{}, false, err
	}

	art, err := model.DecodeBytes(data)
	if err != nil {
		return Version{}, false, Errorf(EINVALID, "not a valid model artifact: %v", err)
	}
	v, err = describe(name, version, art, sum, int64(len(data)))
	if err != nil {
		return Version{}, false, err
	}
	v.CreatedAt = r.now().UTC()
	v.UploadedBy = uploadedBy

	// The bytes go to a temporary file first, and to the file's name only
	// once the database has the version: a crash before then leaves only
	// a temporary file (removed by New), and a lost race none at all.
	f, err := r.pendingFile(name, version, data)
	if err != nil {
		return Version{}, false, fmt.Errorf("registry: store artifact: %w", err)
	}
	defer f.Cleanup() // no-op once renamed
	r.files.Lock()
	defer r.files.Unlock()
	if err := r.store.CreateVersion(ctx, v, data); err != nil {
		// Another upload may have won the race for this version with the
		// same bytes.
		if ErrorCode(err) == ECONFLICT {
			if other, gerr := r.store.Version(ctx, name, version); gerr == nil && other.Checksum == sum {
				return other, false, nil
			}
		}
		return Version{}, false, err
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		r.log.Warn("keep a local copy of an artifact", slog.String("model", name), slog.Int("version", version), slog.String("error", err.Error()))
	}
	return v, true, nil
}

// pendingFile writes data to a temporary file beside version's file, to
// be renamed into place with CloseAtomicallyReplace.
func (r *Registry) pendingFile(name string, version int, data []byte) (*renameio.PendingFile, error) {
	path := r.path(name, version)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	f, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithPermissions(0o640))
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(data); err != nil {
		f.Cleanup()
		return nil, err
	}
	return f, nil
}

// keepFile makes data, checked against v.Checksum, the local file of v,
// unless the database has meanwhile deleted v or recorded other bytes for
// it.
func (r *Registry) keepFile(ctx context.Context, v Version, data []byte) error {
	f, err := r.pendingFile(v.Model, v.Version, data)
	if err != nil {
		return err
	}
	defer f.Cleanup()
	r.files.Lock()
	defer r.files.Unlock()
	cur, err := r.store.Version(ctx, v.Model, v.Version)
	if err != nil || cur.Checksum != v.Checksum {
		return err
	}
	return f.CloseAtomicallyReplace()
}

// describe builds the metadata of an artifact.
func describe(name string, version int, art *model.Artifact, checksum string, size int64) (Version, error) {
	args, err := json.Marshal(art.Args)
	if err != nil {
		return Version{}, fmt.Errorf("registry: encode args: %w", err)
	}
	perf, err := json.Marshal(art.Performance)
	if err != nil {
		return Version{}, fmt.Errorf("registry: encode performance: %w", err)
	}
	return Version{
		Model: name, Version: version, Checksum: checksum, Size: size, RunID: art.RunID,
		Classes: art.Classifier.Classes(), Args: args, Performance: perf,
	}, nil
}

// Open loads version of model name (see ReadArtifact) and decodes it.
func (r *Registry) Open(ctx context.Context, name string, version int) (*model.Artifact, Version, error) {
	data, v, err := r.ReadArtifact(ctx, name, version)
	if err != nil {
		return nil, Version{}, err
	}
	art, err := model.DecodeBytes(data)
	if err != nil {
		return nil, Version{}, fmt.Errorf("registry: decode artifact of %s version %d: %w", name, version, err)
	}
	return art, v, nil
}

// ReadArtifact returns the bytes of version of model name, checked against
// the checksum recorded at upload, and the version's record. The bytes
// come from the local file, or, when this replica has none or a stale one
// (the version was uploaded through another replica, or deleted and
// uploaded again there), from the database, and are then kept as the
// local file.
func (r *Registry) ReadArtifact(ctx context.Context, name string, version int) ([]byte, Version, error) {
	v, err := r.store.Version(ctx, name, version)
	if err != nil {
		return nil, Version{}, err
	}
	data, err := r.artifactBytes(ctx, v)
	if err != nil {
		return nil, Version{}, err
	}
	return data, v, nil
}

// artifactBytes returns v's artifact, checked against v.Checksum: the
// local file when it matches, else the database's copy, which then
// replaces the local file.
func (r *Registry) artifactBytes(ctx context.Context, v Version) ([]byte, error) {
	path := r.path(v.Model, v.Version)
	data, err := os.ReadFile(path)
	if err == nil && checksum(data) == v.Checksum {
		return data, nil
	}
	local := "missing"
	if err == nil {
		local = "sha256 " + checksum(data)
	} else if !errors.Is(err, os.ErrNotExist) {
		local = err.Error()
	}
	data, err = r.store.Artifact(ctx, v.Model, v.Version)
	if err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return nil, fmt.Errorf("registry: artifact of %s version %d: local file %s (recorded sha256 %s) and none in the database", v.Model, v.Version, local, v.Checksum)
		}
		return nil, err
	}
	if got := checksum(data); got != v.Checksum {
		return nil, fmt.Errorf("registry: artifact of %s version %d is corrupt: sha256 %s in the database, recorded %s", v.Model, v.Version, got, v.Checksum)
	}
	if err := r.keepFile(ctx, v, data); err != nil {
		r.log.Warn("keep a local copy of an artifact", slog.String("model", v.Model), slog.Int("version", v.Version), slog.String("error", err.Error()))
	}
	return data, nil
}

func checksum(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Delete removes a version that is not serving, and its file.
func (r *Registry) Delete(ctx context.Context, name string, version int) error {
	r.files.Lock()
	defer r.files.Unlock()
	if err := r.store.DeleteVersion(ctx, name, version); err != nil {
		return err
	}
	if err := os.Remove(r.path(name, version)); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.log.Warn("remove artifact file", slog.String("model", name), slog.Int("version", version), slog.String("error", err.Error()))
	}
	return nil
}

// ImportIfEmpty makes the artifact in dir version 1 of model name, serving,
// when the model does not exist yet. It reports whether it imported.
func (r *Registry) ImportIfEmpty(ctx context.Context, name, dir, uploadedBy string) (bool, error) {
	_, err := r.store.Model(ctx, name)
	if err == nil {
		return false, nil
	}
	if ErrorCode(err) != ENOTFOUND {
		return false, err
	}
	data, err := os.ReadFile(filepath.Join(dir, model.ArtifactFile))
	if err != nil {
		return false, fmt.Errorf("registry: import: %w", err)
	}
	if _, _, err := r.Upload(ctx, name, 1, data, uploadedBy); err != nil {
		return false, fmt.Errorf("registry: import %s: %w", dir, err)
	}
	if err := r.store.SetServing(ctx, name, 1); err != nil {
		return false, err
	}
	return true, nil
}

// Verify checks that every version's artifact can be had with its
// recorded checksum, from the local file or the database, and returns the
// versions that fail, with the reason. A version recorded before the
// database kept artifacts gets its bytes from a matching local file. Files
// of versions the database does not have (left by a crash between a
// deletion and the removal of its file) are removed.
func (r *Registry) Verify(ctx context.Context) (map[string]error, error) {
	models, err := r.store.Models(ctx)
	if err != nil {
		return nil, err
	}
	bad := map[string]error{}
	known := map[string]bool{}
	for _, m := range models {
		versions, err := r.store.Versions(ctx, m.Name)
		if err != nil {
			return nil, err
		}
		for _, v := range versions {
			known[r.path(v.Model, v.Version)] = true
			data, err := r.artifactBytes(ctx, v)
			if err == nil {
				err = r.backfill(ctx, v, data)
			}
			if err != nil {
				bad[fmt.Sprintf("%s/%d", v.Model, v.Version)] = err
			}
		}
	}
	return bad, r.removeOrphans(ctx, known)
}

// removeOrphans removes the artifact files that are not among known, the
// files of the versions the database has, unless the database has gained
// their version since it was read.
func (r *Registry) removeOrphans(ctx context.Context, known map[string]bool) error {
	files, err := filepath.Glob(filepath.Join(r.dir, "*", "*"+artifactExt))
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	r.files.Lock()
	defer r.files.Unlock()
	for _, f := range files {
		if known[f] {
			continue
		}
		name := filepath.Base(filepath.Dir(f))
		version, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(f), artifactExt))
		if err == nil && f == r.path(name, version) {
			if _, err := r.store.Version(ctx, name, version); ErrorCode(err) != ENOTFOUND {
				continue // the database has it (or cannot say)
			}
		}
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("registry: remove orphan artifact file: %w", err)
		}
		r.log.Warn("removed an artifact file of no version", slog.String("file", f))
	}
	return nil
}

// backfill gives the database the bytes of v's artifact, data, if it has
// none: v was recorded before the database kept artifacts. Asking first
// spares sending every artifact to the database at every start.
func (r *Registry) backfill(ctx context.Context, v Version, data []byte) error {
	has, err := r.store.HasArtifact(ctx, v.Model, v.Version)
	if err != nil || has {
		return err
	}
	r.log.Info("storing an artifact in the database", slog.String("model", v.Model), slog.Int("version", v.Version))
	return r.store.PutArtifact(ctx, v.Model, v.Version, data)
}
