package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tagifai/tagifai/model"
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
	importArtifacts bool
	url             string // where this server answers, for the commands it suggests
	registry        *registryFlags
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
	monitoring      bool
}

// parseServeFlags reads serve's flags and their TAGIFAI_* variables.
func parseServeFlags(args []string, e env) (serveConfig, error) {
	var cfg serveConfig
	f := newFlags(e, "serve", "", "Serve the registry's models over HTTP. The listener is bound first; readiness is false (503) until the "+
		"registry is open and the serving model loaded. An empty registry imports --artifacts as version 1.")
	f.StringVar(&cfg.addr, "addr", ":8000", "HOST:PORT to listen on")
	loc := addRegistryFlags(f)
	f.StringVar(&cfg.artifacts, "artifacts", "artifacts", "artifact directory: imported as version 1 into an empty registry; otherwise, when the registry lacks it, "+
		"serve says how to upload and deploy it (or imports it with --import-artifacts)")
	f.BoolVar(&cfg.importArtifacts, "import-artifacts", false, "import --artifacts as a new version when the registry does not have it (it does not serve until deployed)")
	f.StringVar(&cfg.modelName, "model", server.DefaultModelName, "model whose serving version answers POST /predict")
	f.BoolVar(&cfg.requireAuth, "require-auth", false, "demand a predictor's API key for predictions")
	f.Int64Var(&cfg.maxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest JSON request body accepted, in bytes")
	f.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long requests in flight and running batch chunks may take to finish on SIGTERM (one deadline for both; the process exits within it and about a second)")
	f.IntVar(&cfg.batchWorkers, "batch-workers", 1, "batch chunks this replica predicts at once (each on one core); keep it below the cores so that /predict keeps its own")
	f.StringVar(&cfg.replicaID, "replica-id", "", "this server's name among replicas sharing a database, unique to each; it names the replica in each batch job's per-replica counts and as the batch queue's client (default: the host name)")
	f.DurationVar(&cfg.servingPoll, "serving-poll-interval", serving.DefaultPollInterval, "how often to read the serving version from the database, to follow deployments and rollbacks made through other replicas; 0 turns following off")
	f.IntVar(&cfg.storedCache, "stored-prediction-cache", serving.DefaultStoredCacheItems, "stored predictions of the serving version kept in memory for GET /predictions/{item-id}; 0 turns the cache off")
	f.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "debug, info, warn or error")
	f.BoolVar(&cfg.noValidation, "no-validation", false, "turn request validation off (only to measure its cost)")
	f.BoolVar(&cfg.monitoring, "monitoring", true, "keep online statistics of predictions for GET /monitoring and the drift metrics; false only to measure their cost")
	if err := f.parse(args, 0, 0); err != nil {
		return cfg, err
	}
	cfg.registry = loc
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		return cfg, f.usagef("--addr %q must be HOST:PORT (HOST may be empty): %v", cfg.addr, err)
	}
	if cfg.maxBodyBytes < 1024 {
		return cfg, f.usagef("--max-body-bytes must be at least 1024, got %d", cfg.maxBodyBytes)
	}
	if cfg.batchWorkers < 1 {
		return cfg, f.usagef("--batch-workers must be at least 1, got %d", cfg.batchWorkers)
	}
	if cfg.servingPoll < 0 {
		return cfg, f.usagef("--serving-poll-interval must be 0 (off) or more, got %s", cfg.servingPoll)
	}
	if cfg.storedCache < 0 {
		return cfg, f.usagef("--stored-prediction-cache must be 0 (off) or more, got %d", cfg.storedCache)
	}
	if cfg.shutdownTimeout <= 0 {
		return cfg, f.usagef("--shutdown-timeout must be positive, got %s", cfg.shutdownTimeout)
	}
	return cfg, nil
}

// runServe binds the listener first, so that a busy port fails at once and
// leaves nothing behind, and answers liveness on it (startupServer) while
// it opens the registry and loads the model; then the real server takes
// the listener over. A start that fails removes a registry it has just
// created.
func runServe(ctx context.Context, args []string, e env) error {
	cfg, err := parseServeFlags(args, e)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: cfg.logLevel}))

	start := time.Now()
	go server.PrepareSpec() // while the registry opens and the model loads
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("cannot listen on %s: the address is in use by another process; stop it or choose another with --addr or TAGIFAI_ADDR", cfg.addr)
		}
		return fmt.Errorf("cannot listen on %s: %w", cfg.addr, err)
	}
	log.Info("listening", slog.String("addr", ln.Addr().String()))
	cfg.url = localURL(ln.Addr())
	starting, err := startStartupServer(ln, log)
	if err != nil {
		ln.Close()
		return err
	}
	svc, closeRegistry, err := startServing(ctx, cfg, log)
	if err != nil {
		starting.close()
		return err
	}
	defer closeRegistry()
	hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ln, err = starting.handOver(hctx)
	cancel()
	if err != nil {
		ln.Close()
		return fmt.Errorf("start-up: %w", err)
	}
	log.Info("ready", slog.String("model", cfg.modelName), slog.Duration("duration", time.Since(start)))
	if err := svc.run(ctx, ln, cfg.shutdownTimeout); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// startServing opens the registry, imports or announces --artifacts, loads
// the serving model and starts the server's background work. On failure it
// leaves no registry it created behind.
func startServing(ctx context.Context, cfg serveConfig, log *slog.Logger) (svc *services, closeRegistry func(), err error) {
	loc := cfg.registry
	if !loc.exists() {
		// A new registry starts with --artifacts as version 1: check it
		// before creating anything.
		if _, err := os.Stat(filepath.Join(cfg.artifacts, model.ArtifactFile)); err != nil {
			return nil, nil, fmt.Errorf("no registry at %s yet, and --artifacts %s has no %s to start it with: %w",
				loc.describe(), cfg.artifacts, model.ArtifactFile, err)
		}
	}
	store, reg, created, err := loc.open(ctx, true, log)
	if err != nil {
		return nil, nil, err
	}
	log.Info("registry", slog.String("path", loc.describe()), slog.Bool("created", created))
	defer func() {
		if err != nil {
			store.Close()
			if created {
				loc.remove()
				log.Info("removed the registry this failed start created", slog.String("path", loc.describe()))
			}
		}
	}()
	imported, err := reg.ImportIfEmpty(ctx, cfg.modelName, cfg.artifacts, registry.ActorServe)
	if err != nil {
		return nil, nil, err
	}
	if imported {
		log.Info("registry was empty: imported the model as version 1", slog.String("model", cfg.modelName), slog.String("from", cfg.artifacts))
	} else if err := checkArtifacts(ctx, cfg, store, reg, log); err != nil {
		return nil, nil, err
	}
	bad, err := reg.Verify(ctx)
	if err != nil {
		return nil, nil, err
	}
	for version, problem := range bad {
		log.Error("artifact fails its checksum; it cannot be served", slog.String("version", version), slog.String("error", problem.Error()))
	}

	svc, err = wire(cfg, store, reg, log)
	if err != nil {
		return nil, nil, err
	}
	if err := svc.serving.LoadServing(ctx); err != nil {
		return nil, nil, err
	}
	if !cfg.monitoring {
		log.Warn("monitoring is off")
	}
	if cfg.noValidation {
		log.Warn("request validation is off")
	}
	if !cfg.requireAuth {
		log.Warn("predictions need no API key; start with --require-auth to demand one")
	}
	return svc, func() { store.Close() }, nil
}

// checkArtifacts looks for the artifact in --artifacts among the model's
// versions, by checksum (the SHA-256 of the file). When the registry does
// not have it, it imports it as the next version with --import-artifacts,
// and otherwise says exactly how to upload and deploy it: a registry that
// has a model never changes what it serves on its own.
func checkArtifacts(ctx context.Context, cfg serveConfig, store *registry.SQLStore, reg *registry.Registry, log *slog.Logger) error {
	path := filepath.Join(cfg.artifacts, model.ArtifactFile)
	sum, _, err := fileSHA256(path)
	if err != nil {
		log.Info("no artifact in --artifacts to compare with the registry", slog.String("path", path))
		return nil
	}
	versions, err := store.Versions(ctx, cfg.modelName)
	if err != nil {
		return err
	}
	next := 1
	for _, v := range versions {
		if v.Checksum == sum {
			log.Info("--artifacts holds a version the registry has", slog.String("path", path), slog.Int("version", v.Version), slog.Bool("serving", v.Serving))
			return nil
		}
		next = max(next, v.Version+1)
	}
	if cfg.importArtifacts {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, _, err := reg.Upload(ctx, cfg.modelName, next, data, registry.ActorServe); err != nil {
			return fmt.Errorf("import %s: %w", path, err)
		}
		log.Warn("imported --artifacts as a new version; it does not serve until deployed",
			slog.String("path", path), slog.String("checksum", sum), slog.Int("version", next),
			slog.String("deploy", fmt.Sprintf("tagifai models deploy %d --url %s --api-key ADMIN_KEY", next, cfg.url)))
		return nil
	}
	log.Warn("--artifacts holds a model the registry does not have; the registry's serving version still serves",
		slog.String("path", path), slog.String("checksum", sum), slog.String("registry", cfg.registry.describe()),
		slog.String("upload", fmt.Sprintf("tagifai models upload %s --url %s --api-key ADMIN_KEY (becomes version %d)", cfg.artifacts, cfg.url, next)),
		slog.String("deploy", fmt.Sprintf("tagifai models deploy %d --url %s --api-key ADMIN_KEY", next, cfg.url)),
		slog.String("or", "restart with --import-artifacts, then deploy"),
		slog.String("admin_key", "ADMIN_KEY=$(tagifai users create --name NAME --role admin"+cfg.registry.commandFlags()+")"))
	return nil
}

// localURL is the URL of a listener's address as a client on this host
// reaches it: an unspecified host (":8000", "[::]:8000") is localhost.
func localURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
