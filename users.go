package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/tagifai/tagifai/registry"
)

func init() {
	commands["users"] = command{summary: "create, revoke and list API users", run: runUsers}
}

// runUsers handles `tagifai users create|revoke|list`. A new key is printed
// once, on stdout; the registry keeps only its hash.
func runUsers(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "usage: tagifai users create --name NAME --role admin|predictor|viewer\n       tagifai users revoke --name NAME\n       tagifai users list")
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dataDir := fs.String("data-dir", envOr(e, "TAGIFAI_DATA_DIR", "data"), "directory of the registry (env TAGIFAI_DATA_DIR)")
	databaseURL := fs.String("database-url", envOr(e, "TAGIFAI_DATABASE_URL", ""), "postgres:// URL of the registry's database; default: SQLite under --data-dir (env TAGIFAI_DATABASE_URL)")
	name := fs.String("name", "", "the user's name")
	role := fs.String("role", "", "admin, predictor or viewer")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	store, reg, err := openRegistry(ctx, *dataDir, *databaseURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	defer store.Close()

	switch sub {
	case "create":
		u, key, err := reg.CreateUser(ctx, *name, registry.Role(*role))
		if err != nil {
			return fmt.Errorf("users: %w", err)
		}
		fmt.Fprintf(e.stderr, "created %s with role %s; the key below is shown once\n", u.Name, u.Role)
		fmt.Fprintln(e.stdout, key)
	case "revoke":
		u, err := store.RevokeUser(ctx, *name)
		if err != nil {
			return fmt.Errorf("users: %w", err)
		}
		fmt.Fprintf(e.stderr, "revoked %s\n", u.Name)
	case "list":
		users, err := store.Users(ctx)
		if err != nil {
			return fmt.Errorf("users: %w", err)
		}
		enc := json.NewEncoder(e.stdout)
		for _, u := range users {
			if err := enc.Encode(map[string]any{"name": u.Name, "role": u.Role, "created_at": u.CreatedAt, "revoked_at": u.RevokedAt}); err != nil {
				return err
			}
		}
	default:
		fmt.Fprintf(e.stderr, "users: unknown subcommand %q (create, revoke, list)\n", sub)
		return errUsage
	}
	return nil
}
