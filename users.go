package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tagifai/tagifai/registry"
)

func init() {
	commands["users"] = command{summary: "create, revoke and list API users", run: runUsers}
}

// usersCommands are the subcommands of `tagifai users`.
var usersCommands = map[string]subcommand{
	"create": {"create a user and print its API key once", runUsersCreate},
	"revoke": {"revoke a user's API key", runUsersRevoke},
	"list":   {"list the users and their roles", runUsersList},
}

// runUsers handles `tagifai users create|revoke|list`.
func runUsers(ctx context.Context, args []string, e env) error {
	return dispatch(ctx, "users", usersCommands, []string{"create", "revoke", "list"}, args, e)
}

// runUsersCreate creates a user; its new key is printed once, on stdout,
// and the registry keeps only its hash. It creates the registry if there
// is none yet, as serve would.
func runUsersCreate(ctx context.Context, args []string, e env) error {
	f := newFlags(e, "users create", "", "Create a user with a role and print its API key once, on stdout.")
	loc := addRegistryFlags(f)
	name := f.String("name", "", "the user's name (required)")
	role := f.String("role", "", "admin, predictor or viewer (required)")
	if err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *name == "" || *role == "" {
		return f.usagef("--name and --role are required")
	}
	if registry.ReservedUserName(*name) {
		return f.usagef("--name %q is reserved: the audit trail records changes no user made under it", *name)
	}
	if !registry.Role(*role).Valid() {
		return f.usagef("--role %q must be admin, predictor or viewer", *role)
	}
	store, reg, err := openRegistryFor(ctx, loc, true, e)
	if err != nil {
		return err
	}
	defer store.Close()
	u, key, err := reg.CreateUser(ctx, *name, registry.Role(*role))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "created %s with role %s; the key below is shown once\n", u.Name, u.Role)
	fmt.Fprintln(e.stdout, key)
	return nil
}

// runUsersRevoke revokes a user's key.
func runUsersRevoke(ctx context.Context, args []string, e env) error {
	f := newFlags(e, "users revoke", "", "Revoke a user's API key; requests with it are refused from now on.")
	loc := addRegistryFlags(f)
	name := f.String("name", "", "the user's name (required)")
	if err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *name == "" {
		return f.usagef("--name is required")
	}
	store, _, err := openRegistryFor(ctx, loc, false, e)
	if err != nil {
		return err
	}
	defer store.Close()
	u, err := store.RevokeUser(ctx, *name)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "revoked %s\n", u.Name)
	return nil
}

// userJSON is one line of `users list --json`.
type userJSON struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// runUsersList lists the users: a table, or one JSON object per line with
// --json. It never creates a registry.
func runUsersList(ctx context.Context, args []string, e env) error {
	f := newFlags(e, "users list", "", "List the users, their roles and whether their keys are revoked.")
	loc := addRegistryFlags(f)
	asJSON := f.Bool("json", false, "print one JSON object per user and line")
	if err := f.parse(args, 0, 0); err != nil {
		return err
	}
	store, _, err := openRegistryFor(ctx, loc, false, e)
	if err != nil {
		return err
	}
	defer store.Close()
	users, err := store.Users(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, u := range users {
			if err := enc.Encode(userJSON{Name: u.Name, Role: string(u.Role), CreatedAt: u.CreatedAt, RevokedAt: u.RevokedAt}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tREVOKED")
	for _, u := range users {
		revoked := "-"
		if u.RevokedAt != nil {
			revoked = u.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, u.CreatedAt.UTC().Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}
