package main

// The conventions every subcommand shares: flags with a TAGIFAI_* variable
// each, help on -h, usage errors (exit 2) apart from failures (exit 1), one
// error prefix, where the registry is and how it is opened, and the client
// of a running server.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/registry"
)

// usageError is a command line the command cannot run: an unknown flag or
// subcommand, a bad value, a missing or unexpected argument. It exits 2.
type usageError struct {
	cmd string // "serve", "users create"
	msg string
}

func (e *usageError) Error() string { return e.msg }

// cmdError is a command that failed while running. It exits 1.
type cmdError struct {
	cmd string
	err error
}

func (e *cmdError) Error() string { return e.err.Error() }
func (e *cmdError) Unwrap() error { return e.err }

// inCommand attributes err to cmd, unless it already names its command.
func inCommand(cmd string, err error) error {
	var ue *usageError
	var ce *cmdError
	if err == nil || errors.Is(err, errHelp) || errors.As(err, &ue) || errors.As(err, &ce) {
		return err
	}
	return &cmdError{cmd: cmd, err: err}
}

// errHelp reports that help was asked for and printed: the command exits 0.
var errHelp = errors.New("help printed")

// exitCode is the process's exit status for the error run returned, after
// writing the error to w as "tagifai COMMAND: message".
func exitCode(err error, w io.Writer) int {
	var ue *usageError
	var ce *cmdError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		if ue.cmd == "" {
			fmt.Fprintf(w, "tagifai: %s\nRun 'tagifai -h' for the commands.\n", ue.msg)
		} else {
			fmt.Fprintf(w, "tagifai %s: %s\nRun 'tagifai %s -h' for its flags.\n", ue.cmd, ue.msg, ue.cmd)
		}
		return 2
	case errors.As(err, &ce):
		fmt.Fprintf(w, "tagifai %s: %v\n", ce.cmd, ce.err)
		return 1
	default:
		fmt.Fprintf(w, "tagifai: %v\n", err)
		return 1
	}
}

// envName is the environment variable that sets a flag: TAGIFAI_ and the
// flag's name in capitals, dashes as underscores.
func envName(flagName string) string {
	return "TAGIFAI_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// cmdFlags is the flag set of one (sub)command. Every flag can also be set
// by its variable (envName); a flag on the command line wins.
type cmdFlags struct {
	*flag.FlagSet
	cmd        string // "models upload"
	positional string // how the positional arguments are written in the usage line, "" for none
	about      string // what the command does, one or two sentences
	e          env
	cli        map[string]bool // flags given on the command line
	args       []string        // positional arguments
}

// Args returns the positional arguments; NArg and Arg count and index them.
func (f *cmdFlags) Args() []string { return f.args }

// NArg is the number of positional arguments.
func (f *cmdFlags) NArg() int { return len(f.args) }

// Arg is the i-th positional argument, or "".
func (f *cmdFlags) Arg(i int) string {
	if i < 0 || i >= len(f.args) {
		return ""
	}
	return f.args[i]
}

// newFlags returns the flag set of cmd; positional names its positional
// arguments in the usage line ("" when it takes none).
func newFlags(e env, cmd, positional, about string) *cmdFlags {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help is printed by parse
	fs.Usage = func() {}
	return &cmdFlags{FlagSet: fs, cmd: cmd, positional: positional, about: about, e: e}
}

// usagef returns a usage error of this command.
func (f *cmdFlags) usagef(format string, args ...any) error {
	return &usageError{cmd: f.cmd, msg: fmt.Sprintf(format, args...)}
}

// parse parses args and then sets every flag not on the command line from
// its variable. It returns errHelp after printing the help on -h or
// --help, and a usage error for an unknown flag, a bad value, or a number
// of positional arguments outside [minArgs, maxArgs] (maxArgs < 0: no
// limit).
func (f *cmdFlags) parse(args []string, minArgs, maxArgs int) error {
	// Flags may come after positional arguments (`models show 2 --json`);
	// everything after "--" is positional.
	f.args = nil
	for rest := args; ; {
		if err := f.FlagSet.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.printHelp(f.e.stdout)
				return errHelp
			}
			return f.usagef("%v", err)
		}
		left := f.FlagSet.Args()
		if consumed := len(rest) - len(left); consumed > 0 && rest[consumed-1] == "--" {
			f.args = append(f.args, left...)
			break
		}
		if len(left) == 0 {
			break
		}
		f.args = append(f.args, left[0])
		rest = left[1:]
	}
	f.cli = map[string]bool{}
	f.Visit(func(fl *flag.Flag) { f.cli[fl.Name] = true })
	var err error
	f.VisitAll(func(fl *flag.Flag) {
		name := envName(fl.Name)
		v := f.e.getenv(name)
		if f.cli[fl.Name] || v == "" || err != nil {
			return
		}
		if serr := f.Set(fl.Name, v); serr != nil {
			err = f.usagef("%s=%q: %v", name, v, serr)
		}
	})
	if err != nil {
		return err
	}
	switch n := f.NArg(); {
	case n > 0 && maxArgs == 0:
		return f.usagef("unexpected arguments %q", f.Args())
	case maxArgs >= 0 && n > maxArgs:
		return f.usagef("unexpected arguments %q after %s", f.Args()[maxArgs:], strings.TrimSpace(f.positional))
	case n < minArgs:
		return f.usagef("missing %s", strings.TrimSpace(f.positional))
	}
	return nil
}

// onCommandLine reports whether flag name was given on the command line
// (not by its variable).
func (f *cmdFlags) onCommandLine(name string) bool { return f.cli[name] }

// printHelp writes the usage line, what the command does, and its flags
// with their variables and defaults.
func (f *cmdFlags) printHelp(w io.Writer) {
	fmt.Fprintf(w, "usage: tagifai %s [flags]%s\n", f.cmd, f.positional)
	if f.about != "" {
		fmt.Fprintf(w, "\n%s\n", f.about)
	}
	fmt.Fprintln(w, "\nflags (each also set by its variable; a flag wins over its variable):")
	f.VisitAll(func(fl *flag.Flag) {
		kind, usage := flag.UnquoteUsage(fl)
		head := "  --" + fl.Name
		if kind != "" {
			head += " " + kind
		}
		fmt.Fprintf(w, "%s  [%s]\n      %s", head, envName(fl.Name), usage)
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", fl.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// subcommand is one subcommand of a command with subcommands (users, models).
type subcommand struct {
	summary string
	run     func(ctx context.Context, args []string, e env) error
}

// dispatch runs the subcommand of cmd named by args[0]; -h lists them.
func dispatch(ctx context.Context, cmd string, subs map[string]subcommand, order []string, args []string, e env) error {
	help := func(w io.Writer) {
		fmt.Fprintf(w, "usage: tagifai %s COMMAND [flags]\n\ncommands:\n", cmd)
		for _, name := range order {
			fmt.Fprintf(w, "  %-10s %s\n", name, subs[name].summary)
		}
		fmt.Fprintf(w, "\nRun 'tagifai %s COMMAND -h' for the flags of a command.\n", cmd)
	}
	if len(args) == 0 {
		return &usageError{cmd: cmd, msg: "missing COMMAND (" + strings.Join(order, ", ") + ")"}
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		help(e.stdout)
		return errHelp
	}
	sub, ok := subs[args[0]]
	if !ok {
		return &usageError{cmd: cmd, msg: fmt.Sprintf("unknown command %q (%s)", args[0], strings.Join(order, ", "))}
	}
	name := cmd + " " + args[0]
	return inCommand(name, sub.run(ctx, args[1:], e))
}

// registryFlags are the flags that say where the registry is; every
// command that opens it has them, with the same defaults and variables.
type registryFlags struct {
	dataDir     string
	databaseURL string
	// made are the directories open created for a new SQLite registry,
	// the only ones remove may delete.
	made []string
}

// addRegistryFlags adds --data-dir and --database-url to f.
func addRegistryFlags(f *cmdFlags) *registryFlags {
	r := &registryFlags{}
	f.StringVar(&r.dataDir, "data-dir", defaultDataDir(f.e), "directory of the registry: its SQLite database and artifact files")
	f.StringVar(&r.databaseURL, "database-url", "", "postgres:// URL of a PostgreSQL database shared by replicas instead of SQLite under --data-dir")
	return r
}

// defaultDataDir is the registry of the user: $XDG_DATA_HOME/tagifai, else
// ~/.local/share/tagifai; "data" only when neither variable is set.
func defaultDataDir(e env) string {
	if d := e.getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "tagifai")
	}
	if h := e.getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "tagifai")
	}
	return "data"
}

// isPostgres reports whether the registry is in PostgreSQL.
func (r *registryFlags) isPostgres() bool { return r.databaseURL != "" }

// commandFlags are the flags that make another command open this
// registry, for commands printed for a person to run: the data directory,
// shell-quoted, or the PostgreSQL URL by its variable (it may hold a
// password, which is not printed).
func (r *registryFlags) commandFlags() string {
	if r.isPostgres() {
		return ` --database-url "$TAGIFAI_DATABASE_URL"`
	}
	return " --data-dir '" + strings.ReplaceAll(r.dataDir, "'", `'\''`) + "'"
}

// describe names the registry for people: the SQLite file, or the
// PostgreSQL URL without its password.
func (r *registryFlags) describe() string {
	if r.isPostgres() {
		if u, err := url.Parse(r.databaseURL); err == nil {
			return "PostgreSQL " + u.Redacted() + " (artifact files in " + r.dataDir + ")"
		}
		return "PostgreSQL (artifact files in " + r.dataDir + ")"
	}
	abs, err := filepath.Abs(r.sqlitePath())
	if err != nil {
		abs = r.sqlitePath()
	}
	return abs
}

func (r *registryFlags) sqlitePath() string { return filepath.Join(r.dataDir, "registry.db") }

// exists reports whether a SQLite registry is there already; a PostgreSQL
// one is reported as existing: its schema is made on first open.
func (r *registryFlags) exists() bool {
	if r.isPostgres() {
		return true
	}
	_, err := os.Stat(r.sqlitePath())
	return err == nil
}

// errNoRegistry is returned by a read-only command when there is no registry.
var errNoRegistry = errors.New("no registry")

// openRegistry opens the registry: artifact files under dataDir/artifacts,
// metadata in PostgreSQL or in dataDir/registry.db. Unless create is set, a
// registry that does not exist yet is an error and nothing is created.
// created reports whether this call made a new SQLite registry, which
// removeRegistry can undo.
func (r *registryFlags) open(ctx context.Context, create bool, log *slog.Logger) (store *registry.SQLStore, reg *registry.Registry, created bool, err error) {
	switch {
	case r.isPostgres():
		if !strings.HasPrefix(r.databaseURL, "postgres://") && !strings.HasPrefix(r.databaseURL, "postgresql://") {
			return nil, nil, false, fmt.Errorf("--database-url must be a postgres:// URL")
		}
		if err := ensureWritableDir(r.dataDir); err != nil {
			return nil, nil, false, err
		}
		store, err = registry.OpenPostgres(ctx, r.databaseURL)
	default:
		if !r.exists() {
			if !create {
				return nil, nil, false, fmt.Errorf("%w at %s: `tagifai serve` or `tagifai users create` makes one; "+
					"--data-dir or TAGIFAI_DATA_DIR chooses another", errNoRegistry, r.describe())
			}
			created = true
			r.made = nil
			for _, dir := range []string{filepath.Join(r.dataDir, "artifacts"), r.dataDir} {
				if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
					r.made = append(r.made, dir)
				}
			}
		}
		if err := ensureWritableDir(r.dataDir); err != nil {
			if created {
				r.remove()
			}
			return nil, nil, false, err
		}
		store, err = registry.OpenSQLite(ctx, r.sqlitePath())
	}
	if err != nil {
		if created {
			r.remove()
		}
		return nil, nil, false, err
	}
	reg, err = registry.New(store, filepath.Join(r.dataDir, "artifacts"), log)
	if err != nil {
		store.Close()
		if created {
			r.remove()
		}
		return nil, nil, false, err
	}
	return store, reg, created, nil
}

// remove deletes a SQLite registry this process has just created: its
// database files, and the directories open made for it (the artifact
// directory and its files, and dataDir when left empty), so that a failed
// start leaves nothing behind. Directories that were there before stay.
func (r *registryFlags) remove() {
	db := r.sqlitePath()
	for _, p := range []string{db, db + "-wal", db + "-shm", db + "-journal"} {
		_ = os.Remove(p)
	}
	for _, dir := range r.made {
		if dir == r.dataDir {
			_ = os.Remove(dir) // only if empty
		} else {
			_ = os.RemoveAll(dir)
		}
	}
}

// ensureWritableDir makes dir if needed and checks that this user can
// write in it (SQLite writes its journal beside the database even to
// read), naming the path and the fix when it cannot.
func ensureWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return registryDirError(dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return registryDirError(dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// registryDirError explains why the registry directory cannot be made or
// written, with the fix when this user lacks the permission or the file
// system is read-only.
func registryDirError(dir string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("the registry directory %s is not writable by this user (uid %d): %w; "+
			"give this user write access to it (chown or chmod u+w), or choose another directory with --data-dir or TAGIFAI_DATA_DIR",
			dir, os.Getuid(), err)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("the registry directory %s is on a read-only file system: %w; "+
			"choose a writable directory with --data-dir or TAGIFAI_DATA_DIR", dir, err)
	}
	return fmt.Errorf("registry directory %s: %w", dir, err)
}

// quietLog is the logger of commands that are not the server.
func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openRegistryFor opens the registry for a command that is not the server,
// telling stderr which one it opened.
func openRegistryFor(ctx context.Context, r *registryFlags, create bool, e env) (*registry.SQLStore, *registry.Registry, error) {
	store, reg, created, err := r.open(ctx, create, quietLog())
	if err != nil {
		return nil, nil, err
	}
	verb := "registry"
	if created {
		verb = "new registry"
	}
	fmt.Fprintf(e.stderr, "%s: %s\n", verb, r.describe())
	return store, reg, nil
}

// serverFlags are the flags of a command that talks to a running server.
type serverFlags struct {
	url     string
	apiKey  string
	timeout time.Duration
}

// addServerFlags adds --url, --api-key and --timeout to f; urlDefault is
// the default of --url.
func addServerFlags(f *cmdFlags, urlDefault, urlUsage string) *serverFlags {
	s := &serverFlags{}
	f.StringVar(&s.url, "url", urlDefault, urlUsage)
	f.StringVar(&s.apiKey, "api-key", "", "API key sent as a Bearer token, for a server run with --require-auth and for admin operations")
	f.DurationVar(&s.timeout, "timeout", 60*time.Second, "how long a request may take")
	return s
}

// check reports a usage error for a URL that is not http(s)://HOST[:PORT]
// or a timeout that is not positive.
func (s *serverFlags) check(f *cmdFlags) error {
	u, err := url.Parse(s.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return f.usagef("--url %q must be http://HOST:PORT or https://HOST:PORT", s.url)
	}
	if s.timeout <= 0 {
		return f.usagef("--timeout must be positive, got %s", s.timeout)
	}
	return nil
}

// client returns the generated client of the server, sending the API key.
func (s *serverFlags) client() (*gen.ClientWithResponses, error) {
	opts := []gen.ClientOption{gen.WithHTTPClient(&http.Client{Timeout: s.timeout})}
	if s.apiKey != "" {
		key := s.apiKey
		opts = append(opts, gen.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+key)
			return nil
		}))
	}
	return gen.NewClientWithResponses(s.url, opts...)
}

// remoteError describes an error response of a tagifai server: the
// request, its status and the problems listed in the body's data.errors,
// each as "location: message (type)"; a body that is not the documented
// error envelope is quoted, cut to 200 bytes.
func remoteError(resp *http.Response, body []byte) error {
	where := resp.Request.Method + " " + resp.Request.URL.String()
	var envelope gen.ErrorEnvelope
	if err := json.Unmarshal(body, &envelope); err != nil || len(envelope.Data.Errors) == 0 {
		if len(body) > 200 {
			body = body[:200]
		}
		return fmt.Errorf("%s: %s: %q", where, resp.Status, body)
	}
	problems := make([]string, len(envelope.Data.Errors))
	for i, p := range envelope.Data.Errors {
		problems[i] = p.Message + " (" + p.Type + ")"
		if len(p.Location) > 0 {
			problems[i] = strings.Join(p.Location, ".") + ": " + problems[i]
		}
	}
	return fmt.Errorf("%s: %s: %s", where, resp.Status, strings.Join(problems, "; "))
}
