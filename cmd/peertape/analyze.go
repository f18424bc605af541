package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/analyze"
	"github.com/peertape/peertape/replay"
)

// analyzeFlags holds the analyze command's flags.
type analyzeFlags struct {
	rf     readFlags
	nodes  []string
	asJSON bool
	margin seconds
	engine engineFlags
	detect *detectFlags
}

// defaultReplayMargin is how much event time the reproducing command adds
// before and after an anomaly, so the replay shows its build-up and its end.
const defaultReplayMargin = 30 * time.Second

func init() {
	f := &analyzeFlags{margin: seconds(defaultReplayMargin), detect: newDetectFlags()}
	cmd := &cobra.Command{
		Use:   "analyze PATH... [--json] [threshold flags]",
		Short: "Run the analyzers over archives at full speed and report the anomalies",
		Long: `analyze replays archives as fast as it can through the same analyzers as
peertape metrics and peertape replay --metrics-addr (event time only, so the
result does not depend on the machine or the pace) and prints the anomalies
the detectors found: for each, its kind, node, first and last event time,
peak value, the peers involved, and the peertape replay command that
replays it (with --margin of event time on either side).

Detectors and their thresholds (flags, defaults in brackets):
  ping-backlog   the node answered a ping later than --ping-backlog [1s]
                 (a peer's ping from eBPF events, or the p2p-extractor's)
  inbound-flood  --inbound-flood [30] inbound connections within --window
  misbehaving    --misbehaving-burst [10] misbehaviour reports within --window
  reject-spike   --reject-spike [100] mempool rejections within --window
  mutated-block  --mutated-blocks [1] mutated-block BlockChecked log lines
                 within --window
  orphan-flood   --orphan-flood [100] orphans in one getorphantxs poll
--window is 1m; an anomaly ends after --cooldown [2m] below its threshold.
Anomalies still open when the archive ends are marked ongoing.

Output: a table on stdout, or with --json the report as one JSON object
(schema "peertape.analyze.report/v1"; fields are only ever added).
Exit code 0 whether or not anomalies were found — a report is the result;
test "anomalies" in the JSON to script on it. Exit 1 on errors, including
damaged frames (the report then covers every readable event); 2 on usage
errors.`,
		Example: `  peertape analyze demo/
  peertape analyze node-a/ node-b/ --from +2h --to +3h --json | jq '.anomalies[] | .kind'
  peertape analyze archive/ --ping-backlog 500ms --inbound-flood 10 --window 30s`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runAnalyze(cmd, f, args) },
	}
	fs := cmd.Flags()
	f.rf.add(cmd, "only")
	fs.StringSliceVar(&f.nodes, "node", nil, "only these nodes")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fs.Var(&f.margin, "margin", "event time the reproducing replay commands add before and after each anomaly")
	f.engine.addFlags(fs)
	f.detect.addFlags(fs)
	rootCmd.AddCommand(cmd)
}

func runAnalyze(cmd *cobra.Command, f *analyzeFlags, args []string) error {
	if err := f.rf.parse(); err != nil {
		return err
	}
	if f.margin < 0 {
		return usagef("--margin must not be negative")
	}
	opts, lists, err := f.engine.options()
	if err != nil {
		return err
	}
	if opts.Detect, err = f.detect.options(); err != nil {
		return err
	}
	log := slog.Default()
	if len(lists) > 0 {
		log.Info("IP lists loaded", "lists", lists)
	}
	engine, err := analyze.New(opts)
	if err != nil {
		return err
	}
	problems := 0
	ropts := append(replaySelection(f.rf, f.nodes),
		replay.Speed(replay.Max),
		replay.OnProblem(func(err error) {
			problems++
			log.Warn("skipped damaged data", "err", err)
		}))
	r, err := replay.Open(args, ropts...)
	if err != nil {
		return err
	}
	defer r.Close()
	if len(r.Files()) == 0 {
		return fmt.Errorf("nothing to analyze: no file holds events of the selected nodes, kinds and time range")
	}
	start := time.Now()
	runErr := r.Run(cmd.Context(), engine)
	interrupted := errors.Is(runErr, context.Canceled)
	if runErr != nil && !interrupted {
		return runErr
	}
	st := r.Stats()
	log.Info("analyzed", "events", st.Events, "files", st.Files, "wall", time.Since(start).Round(time.Millisecond).String(),
		"events_per_s", int64(st.EventsPerSecond()))
	if interrupted {
		log.Warn("interrupted: the report covers the events read so far")
	}

	rep := engine.Report()
	rep.SetReplay(args, time.Duration(f.margin))
	if len(r.Nodes()) > 1 {
		// Several nodes: the reproducing command replays the anomaly's
		// node only.
		for i := range rep.Anomalies {
			if a := &rep.Anomalies[i]; a.Node != "" {
				a.Replay += " --node " + shellWord(a.Node)
			}
		}
	}
	out := bufio.NewWriter(cmd.OutOrStdout())
	if f.asJSON {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = writeReport(out, rep, r.Nodes())
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		return err
	}
	if problems > 0 {
		return exitCodeError{code: exitError, msg: fmt.Sprintf("%d problems (the report covers every readable event)", problems)}
	}
	return nil
}

// writeReport prints the report for people: a header, one table row per
// anomaly, then the command reproducing each.
func writeReport(w io.Writer, rep *analyze.Report, nodes []string) error {
	n := len(rep.Anomalies)
	noun := "anomalies"
	if n == 1 {
		noun = "anomaly"
	}
	fmt.Fprintf(w, "%d %s in %s events", n, noun, formatCount(rep.Events))
	if len(nodes) > 0 {
		fmt.Fprintf(w, " of %s", strings.Join(nodes, ", "))
	}
	if rep.Events > 0 {
		fmt.Fprintf(w, ", event time %s → %s (%s)", rep.First, rep.Last, roundDur(time.Duration(rep.LastMs-rep.FirstMs)*time.Millisecond))
	}
	fmt.Fprintln(w)
	if n == 0 {
		fmt.Fprintf(w, "thresholds: %s\n", formatThresholds(rep.Thresholds))
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tKIND\tNODE\tSTART\tEND\tPEAK\tPEERS")
	for i, a := range rep.Anomalies {
		end := a.End
		if a.Ongoing {
			end += " (ongoing)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", i+1, a.Kind, a.Node, a.Start, end, formatPeak(a), formatPeers(a))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for i, a := range rep.Anomalies {
		fmt.Fprintf(w, "%d  %s\n", i+1, a.Replay)
		for _, d := range a.Details {
			fmt.Fprintf(w, "   %s\n", d)
		}
	}
	for _, kind := range sortedKeys(rep.Dropped) {
		fmt.Fprintf(w, "%d more %s anomalies not listed (at most %d per kind)\n", rep.Dropped[kind], kind, analyze.DefaultMaxAnomalies)
	}
	fmt.Fprintf(w, "\nthresholds: %s\n", formatThresholds(rep.Thresholds))
	return nil
}

func formatPeak(a analyze.Anomaly) string {
	return strconv.FormatFloat(a.Peak, 'g', 4, 64) + " " + a.Unit + " (threshold " + strconv.FormatFloat(a.Threshold, 'g', 4, 64) + ")"
}

// formatPeers lists the three peers with the most events.
func formatPeers(a analyze.Anomaly) string {
	if a.PeersTotal == 0 {
		return "-"
	}
	var parts []string
	for i, p := range a.Peers {
		if i == 3 {
			break
		}
		s := "#" + strconv.FormatUint(p.ID, 10)
		if p.Addr != "" {
			s += " " + p.Addr
		}
		parts = append(parts, s)
	}
	s := strconv.Itoa(a.PeersTotal) + ": " + strings.Join(parts, ", ")
	if more := a.PeersTotal - len(parts); more > 0 {
		s += fmt.Sprintf(" +%d", more)
	}
	return s
}

func formatThresholds(m map[string]float64) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+strconv.FormatFloat(m[k], 'g', -1, 64))
	}
	return strings.Join(parts, " ")
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// shellWord quotes s for a POSIX shell unless it is plainly safe.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
