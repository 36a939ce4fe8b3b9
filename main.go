// Command tagifai trains, evaluates and serves the TagIfAI text classifier,
// which tags a machine-learning project (title + description) as
// natural-language-processing, computer-vision, mlops or other.
//
// Every command follows the same conventions (cli.go): each flag can be set
// by a TAGIFAI_* variable, -h prints the command's flags and exits 0, a
// usage error exits 2 and a failure 1, and errors read
// "tagifai COMMAND: message". Run `tagifai -h` for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
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

// commands is the table of subcommands; each file registers its own.
var commands = map[string]command{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], env{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// run dispatches args[0] to its subcommand. The error it returns says how
// the process exits (exitCode).
func run(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		return &usageError{msg: "missing COMMAND"}
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		usage(e.stdout)
		return errHelp
	case "--version", "-version", "version":
		if len(args) > 1 {
			return &usageError{cmd: "version", msg: fmt.Sprintf("unexpected arguments %q", args[1:])}
		}
		fmt.Fprintln(e.stdout, versionLine())
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return &usageError{msg: fmt.Sprintf("unknown command %q", args[0])}
	}
	return inCommand(args[0], cmd.run(ctx, args[1:], e))
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
	fmt.Fprintln(w, "\nRun 'tagifai COMMAND -h' for the flags of a command, 'tagifai --version' for the build.")
}

// versionLine is what --version prints: the module version, the commit it
// was built from (with "+dirty" for uncommitted changes) and the Go
// version, from the build information the Go toolchain embeds.
func versionLine() string {
	version, commit, modified := "unknown", "unknown", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			version = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		commit += "+dirty"
	}
	return fmt.Sprintf("tagifai %s (commit %s) %s %s/%s", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
