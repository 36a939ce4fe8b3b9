package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/tagifai/tagifai/gen"
)

func init() {
	modelsCommands["rollout"] = subcommand{"show, start, change or abort a shadow or canary rollout", runModelsRollout}
}

// runModelsRollout handles `tagifai models rollout`: show (the default),
// shadow VERSION [PERCENT], canary VERSION PERCENT, abort.
func runModelsRollout(ctx context.Context, args []string, e env) error {
	m, err := parseModelsCmd(e, "models rollout", " [show | shadow VERSION [PERCENT] | canary VERSION PERCENT | abort]",
		"Show --model's rollout and its figures, start or change one (shadow: VERSION predicts a copy of PERCENT% of the traffic, "+
			"default 100; canary: VERSION answers PERCENT% of the callers), or abort it. Promote the candidate with "+
			"tagifai models deploy VERSION. Starting, changing and aborting need an admin's key.", args, 0, 3)
	if err != nil {
		return err
	}
	action := "show"
	if m.f.NArg() > 0 {
		action = m.f.Arg(0)
	}
	var data gen.Rollout
	switch action {
	case "show":
		if m.f.NArg() != 1 && m.f.NArg() != 0 {
			return m.f.usagef("show takes no arguments")
		}
		resp, err := m.client.GetRolloutWithResponse(ctx, m.model)
		if err != nil {
			return err
		}
		if resp.JSON200 == nil {
			return remoteError(resp.HTTPResponse, resp.Body)
		}
		data = resp.JSON200.Data
	case "shadow", "canary":
		if m.f.NArg() < 2 || (action == "canary" && m.f.NArg() != 3) {
			return m.f.usagef("%s needs VERSION%s", action, map[bool]string{true: " and PERCENT", false: ""}[action == "canary"])
		}
		version, err := m.versionArg(1)
		if err != nil {
			return err
		}
		body := gen.RolloutRequest{Candidate: version, Mode: gen.RolloutRequestMode(action)}
		if m.f.NArg() == 3 {
			p, err := strconv.ParseFloat(m.f.Arg(2), 64)
			if err != nil || p < 0 || p > 100 {
				return m.f.usagef("PERCENT must be a number from 0 to 100, got %q", m.f.Arg(2))
			}
			body.Percent = &p
		}
		resp, err := m.client.StartRolloutWithResponse(ctx, m.model, nil, body)
		if err != nil {
			return err
		}
		if resp.JSON200 == nil {
			return remoteError(resp.HTTPResponse, resp.Body)
		}
		data = resp.JSON200.Data
	case "abort":
		if m.f.NArg() != 1 {
			return m.f.usagef("abort takes no arguments")
		}
		resp, err := m.client.AbortRolloutWithResponse(ctx, m.model, nil)
		if err != nil {
			return err
		}
		if resp.JSON200 == nil {
			return remoteError(resp.HTTPResponse, resp.Body)
		}
		data = resp.JSON200.Data
	default:
		return m.f.usagef("unknown action %q (show, shadow, canary, abort)", action)
	}
	return m.print(e, data, func() {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		if data.Status == gen.Active {
			fmt.Fprintf(tw, "rollout\t%s of version %d at %g%%, beside version %d\n", data.Mode, data.Candidate, data.Percent, data.ServingVersion)
		} else { // ended: what serves now may be neither side
			fmt.Fprintf(tw, "rollout\t%s of version %d at %g%%, ended; version %d serves now\n", data.Mode, data.Candidate, data.Percent, data.ServingVersion)
		}
		status := string(data.Status)
		if data.Reason != nil {
			status += ": " + *data.Reason
		}
		fmt.Fprintf(tw, "status\t%s\n", status)
		fmt.Fprintf(tw, "started\t%s by %s\n", data.StartedAt.UTC().Format("2006-01-02T15:04:05Z"), data.StartedBy)
		if st := data.Stats; st != nil {
			fmt.Fprintf(tw, "seen by\t%s since %s\n", st.Replica, st.Since.UTC().Format("2006-01-02T15:04:05Z"))
			for _, side := range []struct {
				name string
				s    gen.RolloutSide
			}{{"serving", st.Serving}, {"candidate", st.Candidate}} {
				fmt.Fprintf(tw, "%s (version %d)\t%d requests, %d predictions, p50 %.3f ms, p99 %.3f ms\n",
					side.name, side.s.Version, side.s.Requests, side.s.Predictions, side.s.Latency.P50Ms, side.s.Latency.P99Ms)
			}
			if sh := st.Shadow; sh != nil {
				agreement := "-"
				if sh.AgreementRate != nil {
					agreement = fmt.Sprintf("%.4f", *sh.AgreementRate)
				}
				fmt.Fprintf(tw, "shadow\tagreement %s over %d predictions; %d of %d requests dropped\n", agreement, sh.Compared, sh.Dropped, sh.Sampled)
			}
		}
		tw.Flush()
	})
}
