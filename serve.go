package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/server"
	"github.com/tagifai/tagifai/serving"
)

// openapiYAML is the contract, served as written at /openapi.yaml.
//
//go:embed openapi.yaml
var openapiYAML []byte

func init() {
	commands["serve"] = command{summary: "serve the model over HTTP", run: runServe}
}

// serveConfig is what `tagifai serve` is told by flags and TAGIFAI_*
// environment variables; a flag wins over its variable.
type serveConfig struct {
	artifacts       string
	dataDir         string
	databaseURL     string
	modelName       string
	requireAuth     bool
	batchWorkers    int
	storedCache     int
	servingPoll     time.Duration
	replicaID       string
	addr            string
	maxBodyBytes    int64
	shutdownTimeout time.Duration
	logLevel        slog.Level
	noValidation    bool
}

func parseServeFlags(args []string, e env) (serveConfig, error) {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&cfg.addr, "addr", ":8000", "HOST:PORT to listen on")
	fs.StringVar(&cfg.dataDir, "data-dir", "data", "directory of the registry: its database and artifact files")
	fs.StringVar(&cfg.databaseURL, "database-url", "", "postgres:// URL of a PostgreSQL database shared by replicas; default: SQLite under --data-dir")
	fs.StringVar(&cfg.artifacts, "artifacts", "artifacts", "directory of the model imported as version 1 when the registry is empty")
	fs.StringVar(&cfg.modelName, "model", server.DefaultModelName, "model whose serving version answers POST /predict")
	fs.BoolVar(&cfg.requireAuth, "require-auth", false, "demand a predictor's API key for predictions")
	fs.Int64Var(&cfg.maxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest JSON request body accepted, in bytes")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long requests in flight may take to finish on SIGTERM")
	fs.IntVar(&cfg.batchWorkers, "batch-workers", 1, "batch jobs that run at once")
	fs.StringVar(&cfg.replicaID, "replica-id", "", "this server's name among replicas sharing a database, unique to each; batch jobs are claimed under it (default: the host name)")
	fs.DurationVar(&cfg.servingPoll, "serving-poll-interval", serving.DefaultPollInterval, "how often to read the serving version from the database, to follow deployments and rollbacks made through other replicas; 0 turns following off")
	fs.IntVar(&cfg.storedCache, "stored-prediction-cache", serving.DefaultStoredCacheItems, "stored predictions of the serving version kept in memory for GET /predictions/{item-id}; 0 turns the cache off")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "debug, info, warn or error")
	fs.BoolVar(&cfg.noValidation, "no-validation", false, "turn request validation off (only to measure its cost)")
	if err := setFromEnv(fs, e); err != nil {
		return cfg, err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "serve: unexpected arguments %q\n", fs.Args())
		return cfg, errUsage
	}
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		return cfg, fmt.Errorf("serve: --addr %q must be HOST:PORT (HOST may be empty): %w", cfg.addr, err)
	}
	if cfg.maxBodyBytes < 1024 {
		return cfg, fmt.Errorf("serve: --max-body-bytes must be at least 1024, got %d", cfg.maxBodyBytes)
	}
	if cfg.batchWorkers < 1 {
		return cfg, fmt.Errorf("serve: --batch-workers must be at least 1, got %d", cfg.batchWorkers)
	}
	if cfg.servingPoll < 0 {
		return cfg, fmt.Errorf("serve: --serving-poll-interval must be 0 (off) or more, got %s", cfg.servingPoll)
	}
	if cfg.storedCache < 0 {
		return cfg, fmt.Errorf("serve: --stored-prediction-cache must be 0 (off) or more, got %d", cfg.storedCache)
	}
	if cfg.shutdownTimeout <= 0 {
		return cfg, fmt.Errorf("serve: --shutdown-timeout must be positive, got %s", cfg.shutdownTimeout)
	}
	return cfg, nil
}

// envName is the environment variable that sets a flag: TAGIFAI_ and the
// flag's name in capitals, dashes as underscores.
func envName(flagName string) string {
	return "TAGIFAI_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// setFromEnv sets each flag of fs whose variable is set; a flag given on
// the command line still wins. Each flag's usage names its variable.
func setFromEnv(fs *flag.FlagSet, e env) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		f.Usage += " (env " + name + ")"
		if v := e.getenv(name); v != "" && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("serve: %s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}

func envOr(e env, key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}

// runServe loads the model, then binds the listener and serves until ctx is
// done. The model is loaded before the first connection is accepted.
func runServe(ctx context.Context, args []string, e env) error {
	cfg, err := parseServeFlags(args, e)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: cfg.logLevel}))

	start := time.Now()
	store, reg, err := openRegistry(ctx, cfg.dataDir, cfg.databaseURL, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer store.Close()
	imported, err := reg.ImportIfEmpty(ctx, cfg.modelName, cfg.artifacts, "tagifai-serve")
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if imported {
		log.Info("registry was empty: imported the model as version 1", slog.String("model", cfg.modelName), slog.String("from", cfg.artifacts))
	}
	bad, err := reg.Verify(ctx)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	for version, problem := range bad {
		log.Error("artifact fails its checksum; it cannot be served", slog.String("version", version), slog.String("error", problem.Error()))
	}

	svc, err := wire(cfg, store, reg, log)
	if err != nil {
		return err
	}
	if err := svc.serving.LoadServing(ctx); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("model loaded", slog.String("model", cfg.modelName), slog.Duration("duration", time.Since(start)))
	if cfg.noValidation {
		log.Warn("request validation is off")
	}
	if !cfg.requireAuth {
		log.Warn("predictions need no API key; start with --require-auth to demand one")
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("listening", slog.String("addr", ln.Addr().String()))
	if err := svc.run(ctx, ln, cfg.shutdownTimeout); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// openRegistry opens the registry: its artifact files under dataDir/artifacts,
// its metadata in PostgreSQL when databaseURL is a postgres:// URL, else in
// dataDir/registry.db (SQLite).
func openRegistry(ctx context.Context, dataDir, databaseURL string, log *slog.Logger) (*registry.SQLStore, *registry.Registry, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, nil, err
	}
	var store *registry.SQLStore
	var err error
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		store, err = registry.OpenPostgres(ctx, databaseURL)
	case databaseURL == "":
		store, err = registry.OpenSQLite(ctx, filepath.Join(dataDir, "registry.db"))
	default:
		err = fmt.Errorf("--database-url must be a postgres:// URL")
	}
	if err != nil {
		return nil, nil, err
	}
	reg, err := registry.New(store, filepath.Join(dataDir, "artifacts"), log)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, reg, nil
}
