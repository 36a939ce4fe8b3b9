// Command tagifai trains, evaluates and serves the TagIfAI text classifier,
// which tags a machine-learning project (title + description) as
// natural-language-processing, computer-vision, mlops or other.
//
// Usage:
//
//	tagifai serve    --addr HOST:PORT --data-dir DIR --artifacts DIR [--require-auth]
//	tagifai train    --data CSV --holdout CSV --out DIR [--args JSON] [--seed N]
//	tagifai evaluate --artifacts DIR --data CSV [--no-fallback]
//	tagifai predict  --artifacts DIR TEXT...
//	tagifai cv       --data CSV [--args JSON] [--seed N] [--folds K]
//	tagifai users    create --name NAME --role ROLE | revoke --name NAME | list
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand of the tagifai binary.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, env env) error
}

// env is what a subcommand may touch of the outside world, so that tests can
// run any subcommand in-process.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// commands is the table of subcommands.
var commands = map[string]command{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], env{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "tagifai:", err)
		}
		os.Exit(2)
	}
}

// errUsage reports a usage error whose message has already been printed.
var errUsage = errors.New("usage")

// run dispatches args[0] to its subcommand.
func run(ctx context.Context, args []string, e env) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "tagifai: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return errUsage
	}
	return cmd.run(ctx, args[1:], e)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tagifai COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'tagifai COMMAND -h' for the flags of a command.")
}
