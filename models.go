package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/server"
)

func init() {
	commands["models"] = command{summary: "list, upload, deploy, roll back and delete model versions on a running server", run: runModels}
}

// modelsCommands are the subcommands of `tagifai models`.
var modelsCommands = map[string]subcommand{
	"list":     {"list the versions of every model (or of --model)", runModelsList},
	"show":     {"show one version: checksum, size, run id, performance, args", runModelsShow},
	"upload":   {"upload an artifact as a new version (not serving until deployed)", runModelsUpload},
	"deploy":   {"make a version the serving one", runModelsDeploy},
	"rollback": {"serve the version before the serving one (or VERSION)", runModelsRollback},
	"delete":   {"delete a version that is not serving", runModelsDelete},
}

// runModels handles `tagifai models list|show|upload|deploy|rollback|delete`,
// which talk to a running server through the generated client.
func runModels(ctx context.Context, args []string, e env) error {
	return dispatch(ctx, "models", modelsCommands, []string{"list", "show", "upload", "deploy", "rollback", "delete", "rollout"}, args, e)
}

// modelsCmd is what every models subcommand parses: the server, the model,
// and whether to print JSON.
type modelsCmd struct {
	f      *cmdFlags
	srv    *serverFlags
	model  string
	asJSON bool
	client *gen.ClientWithResponses
}

// parseModelsCmd parses the flags shared by the models subcommands, and
// positional arguments between minArgs and maxArgs.
func parseModelsCmd(e env, cmd, positional, about string, args []string, minArgs, maxArgs int) (*modelsCmd, error) {
	m := &modelsCmd{f: newFlags(e, cmd, positional, about)}
	m.srv = addServerFlags(m.f, "http://localhost:8000", "base URL of the tagifai server")
	modelDefault := server.DefaultModelName
	if cmd == "models list" {
		modelDefault = ""
	}
	m.f.StringVar(&m.model, "model", modelDefault, "the model's name")
	m.f.BoolVar(&m.asJSON, "json", false, "print JSON for scripts instead of text")
	if err := m.f.parse(args, minArgs, maxArgs); err != nil {
		return nil, err
	}
	if err := m.srv.check(m.f); err != nil {
		return nil, err
	}
	var err error
	m.client, err = m.srv.client()
	return m, err
}

// versionArg parses the i-th positional argument as a version number.
func (m *modelsCmd) versionArg(i int) (int, error) {
	v, err := strconv.Atoi(m.f.Arg(i))
	if err != nil || v < 1 {
		return 0, m.f.usagef("VERSION must be a positive whole number, got %q", m.f.Arg(i))
	}
	return v, nil
}

// print writes v as indented JSON with --json, else calls text.
func (m *modelsCmd) print(e env, v any, text func()) error {
	if m.asJSON {
		return writeJSON(e.stdout, v, true)
	}
	text()
	return nil
}

func runModelsList(ctx context.Context, args []string, e env) error {
	m, err := parseModelsCmd(e, "models list", "", "List the versions of every model, or of --model, with their checksums (SHA-256 of the artifact file).", args, 0, 0)
	if err != nil {
		return err
	}
	names := []string{m.model}
	if m.model == "" {
		resp, err := m.client.ListModelsWithResponse(ctx)
		if err != nil {
			return err
		}
		if resp.JSON200 == nil {
			return remoteError(resp.HTTPResponse, resp.Body)
		}
		names = names[:0]
		for _, s := range resp.JSON200.Data.Models {
			names = append(names, s.Name)
		}
		sort.Strings(names)
	}
	versions := []gen.VersionInfo{}
	for _, name := range names {
		resp, err := m.client.ListVersionsWithResponse(ctx, name)
		if err != nil {
			return err
		}
		if resp.JSON200 == nil {
			return remoteError(resp.HTTPResponse, resp.Body)
		}
		versions = append(versions, resp.JSON200.Data.Versions...)
	}
	return m.print(e, map[string]any{"versions": versions}, func() {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MODEL\tVERSION\tSERVING\tSIZE\tUPLOADED\tBY\tCHECKSUM (SHA-256)")
		for _, v := range versions {
			serving := ""
			if v.Serving {
				serving = "serving"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\n", v.Model, v.Version, serving, v.SizeBytes, v.CreatedAt.UTC().Format(time.RFC3339), v.UploadedBy, v.Checksum)
		}
		tw.Flush()
	})
}

func runModelsShow(ctx context.Context, args []string, e env) error {
	m, err := parseModelsCmd(e, "models show", " VERSION", "Show one version of --model: checksum, size, run id, classes, performance and training args.", args, 1, 1)
	if err != nil {
		return err
	}
	version, err := m.versionArg(0)
	if err != nil {
		return err
	}
	resp, err := m.client.GetVersionWithResponse(ctx, m.model, version)
	if err != nil {
		return err
	}
	if resp.JSON200 == nil {
		return remoteError(resp.HTTPResponse, resp.Body)
	}
	v := resp.JSON200.Data
	return m.print(e, v, func() {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		serving := ""
		if v.Serving {
			serving = " (serving)"
		}
		fmt.Fprintf(tw, "model\t%s\n", v.Model)
		fmt.Fprintf(tw, "version\t%d%s\n", v.Version, serving)
		fmt.Fprintf(tw, "checksum (SHA-256)\t%s\n", v.Checksum)
		fmt.Fprintf(tw, "size\t%d bytes\n", v.SizeBytes)
		fmt.Fprintf(tw, "run id\t%s\n", v.RunId)
		fmt.Fprintf(tw, "classes\t%s\n", strings.Join(v.Classes, ", "))
		fmt.Fprintf(tw, "uploaded\t%s by %s\n", v.CreatedAt.UTC().Format(time.RFC3339), v.UploadedBy)
		if p := v.Performance; p != nil && p.Overall != nil {
			fmt.Fprintf(tw, "holdout\tF1 %.3f, precision %.3f, recall %.3f, %d projects\n", p.Overall.F1, p.Overall.Precision, p.Overall.Recall, p.Overall.NumSamples)
			if p.Class != nil {
				classes := make([]string, 0, len(*p.Class))
				for c := range *p.Class {
					classes = append(classes, c)
				}
				sort.Strings(classes)
				for _, c := range classes {
					fmt.Fprintf(tw, "  %s\tF1 %.3f\n", c, (*p.Class)[c].F1)
				}
			}
		}
		if v.Args != nil {
			js, _ := json.Marshal(*v.Args)
			fmt.Fprintf(tw, "args\t%s\n", js)
		}
		tw.Flush()
	})
}

func runModelsUpload(ctx context.Context, args []string, e env) error {
	m, err := parseModelsCmd(e, "models upload", " FILE|DIR [VERSION]",
		"Upload an artifact (a model.tagifai file, or the directory `tagifai train --out` wrote) as VERSION of --model, "+
			"by default the next version. It does not serve until deployed (tagifai models deploy). Needs an admin's key.", args, 1, 2)
	if err != nil {
		return err
	}
	path := m.f.Arg(0)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, model.ArtifactFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	version := 0
	if m.f.NArg() == 2 {
		if version, err = m.versionArg(1); err != nil {
			return err
		}
	} else {
		sum := sha256.Sum256(data)
		next, same, err := m.nextVersion(ctx, hex.EncodeToString(sum[:]))
		if err != nil {
			return err
		}
		if same != nil { // the next version would be a copy of this one
			return m.print(e, same, func() {
				fmt.Fprintf(e.stdout, "already had these bytes as %s version %d: %d bytes, checksum (SHA-256) %s; nothing uploaded\n",
					same.Model, same.Version, same.SizeBytes, same.Checksum)
			})
		}
		version = next
	}
	resp, err := m.client.UploadVersionWithBodyWithResponse(ctx, m.model, version, nil, "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		return err
	}
	var v *gen.VersionInfo
	switch {
	case resp.JSON201 != nil:
		v = &resp.JSON201.Data
	case resp.JSON200 != nil:
		v = &resp.JSON200.Data
	default:
		return remoteError(resp.HTTPResponse, resp.Body)
	}
	return m.print(e, v, func() {
		what := "uploaded"
		if resp.StatusCode() == http.StatusOK {
			what = "already had these bytes as"
		}
		fmt.Fprintf(e.stdout, "%s %s version %d: %d bytes, checksum (SHA-256) %s\n", what, v.Model, v.Version, v.SizeBytes, v.Checksum)
		if !v.Serving {
			fmt.Fprintf(e.stderr, "serve it with: tagifai models deploy %d\n", v.Version)
		}
	})
}

// nextVersion is one more than the highest version of the model, or 1
// when it has none; same is the version whose artifact has checksum, if
// one has.
func (m *modelsCmd) nextVersion(ctx context.Context, checksum string) (next int, same *gen.VersionInfo, err error) {
	resp, err := m.client.ListVersionsWithResponse(ctx, m.model)
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode() == http.StatusNotFound {
		return 1, nil, nil
	}
	if resp.JSON200 == nil {
		return 0, nil, remoteError(resp.HTTPResponse, resp.Body)
	}
	highest := 0
	for i, v := range resp.JSON200.Data.Versions {
		highest = max(highest, v.Version)
		if v.Checksum == checksum && same == nil {
			same = &resp.JSON200.Data.Versions[i]
		}
	}
	return highest + 1, same, nil
}

// serving returns the model's summary: its serving version and versions.
func (m *modelsCmd) serving(ctx context.Context) (gen.ModelSummary, error) {
	resp, err := m.client.GetModelWithResponse(ctx, m.model)
	if err != nil {
		return gen.ModelSummary{}, err
	}
	if resp.JSON200 == nil {
		return gen.ModelSummary{}, remoteError(resp.HTTPResponse, resp.Body)
	}
	return resp.JSON200.Data, nil
}

// setServing makes version the serving one and says what changed.
func (m *modelsCmd) setServing(ctx context.Context, e env, version, was int) error {
	resp, err := m.client.SetServingVersionWithResponse(ctx, m.model, nil, gen.ServingVersionRequest{Version: version})
	if err != nil {
		return err
	}
	if resp.JSON200 == nil {
		return remoteError(resp.HTTPResponse, resp.Body)
	}
	s := resp.JSON200.Data
	return m.print(e, s, func() {
		fmt.Fprintf(e.stdout, "%s serves version %d (was %d)\n", s.Name, s.ServingVersion, was)
	})
}

func runModelsDeploy(ctx context.Context, args []string, e env) error {
	m, err := parseModelsCmd(e, "models deploy", " VERSION",
		"Make VERSION of --model the serving one: it is loaded and checked first, and requests in flight finish on the old one. Needs an admin's key.", args, 1, 1)
	if err != nil {
		return err
	}
	version, err := m.versionArg(0)
	if err != nil {
		return err
	}
	cur, err := m.serving(ctx)
	if err != nil {
		return err
	}
	return m.setServing(ctx, e, version, cur.ServingVersion)
}

func runModelsRollback(ctx context.Context, args []string, e env) error {
	m, err := parseModelsCmd(e, "models rollback", " [VERSION]",
		"Serve VERSION of --model again, by default the highest version below the serving one. Needs an admin's key.", args, 0, 1)
	if err != nil {
		return err
	}
	cur, err := m.serving(ctx)
	if err != nil {
		return err
	}
	if m.f.NArg() == 1 {
		version, err := m.versionArg(0)
		if err != nil {
			return err
		}
		return m.setServing(ctx, e, version, cur.ServingVersion)
	}
	resp, err := m.client.ListVersionsWithResponse(ctx, m.model)
	if err != nil {
		return err
	}
	if resp.JSON200 == nil {
		return remoteError(resp.HTTPResponse, resp.Body)
	}
	previous := 0
	for _, v := range resp.JSON200.Data.Versions {
		if v.Version < cur.ServingVersion {
			previous = max(previous, v.Version)
		}
	}
	if previous == 0 {
		return errors.New(m.model + " has no version below the serving version " + strconv.Itoa(cur.ServingVersion) + " to roll back to; name one: tagifai models rollback VERSION")
	}
	return m.setServing(ctx, e, previous, cur.ServingVersion)
}

func runModelsDelete(ctx context.Context, args []string, e env) error {
	m, err := parseModelsCmd(e, "models delete", " VERSION",
		"Delete VERSION of --model and its stored predictions; the serving version cannot be deleted. Needs an admin's key.", args, 1, 1)
	if err != nil {
		return err
	}
	version, err := m.versionArg(0)
	if err != nil {
		return err
	}
	resp, err := m.client.DeleteVersionWithResponse(ctx, m.model, version, nil)
	if err != nil {
		return err
	}
	if resp.JSON200 == nil {
		return remoteError(resp.HTTPResponse, resp.Body)
	}
	v := resp.JSON200.Data
	return m.print(e, v, func() {
		fmt.Fprintf(e.stdout, "deleted %s version %d (checksum %s)\n", v.Model, v.Version, v.Checksum)
	})
}
