package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/natsbus"
	"github.com/peertape/peertape/replay"
)

// Adding a sink to `peertape replay` from another file
//
// Every output of a replay — NATS, JSON lines, the analyzers' metrics — is
// a replaySinkProvider, registered from an init function without editing
// this file. In its own file (say replay_metrics.go):
//
//	type metricsReplaySink struct{ addr string }
//
//	func init() { registerReplaySink(&metricsReplaySink{}) }
//
//	func (p *metricsReplaySink) AddFlags(fs *pflag.FlagSet) {
//		fs.StringVar(&p.addr, "metrics-addr", "", "serve the analyzers' metrics on ADDR")
//	}
//
//	func (p *metricsReplaySink) Sinks(ctx context.Context, env replayEnv) ([]replaySink, error) {
//		if p.addr == "" {
//			return nil, nil // flag not given: no sink
//		}
//		a := analyze.New(...)            // an event.Sink
//		return []replaySink{{
//			Sink:        a,
//			Description: "metrics on " + p.addr,
//			Advance:     a.AdvanceTo,    // event time moved on (samplers)
//			Close:       func(ctx context.Context, st replay.Stats) error { return a.Flush(ctx) },
//		}}, nil
//	}
//
// AddFlags runs while the package initializes (replayCmd exists before any
// init function runs, so registerReplaySink may be called from any file).
// Flag names must not collide with the replay command's own flags or with
// another provider's. Sinks runs after the flags are parsed and the
// archives were opened (env.Replay tells which files, nodes and event-time
// span will be replayed); return nil when the provider's flags were not
// used, a usage mistake as usagef(...) (exit 2), anything else as an error
// (exit 1). What the hooks of a replaySink promise:
//
//   - Sink.Consume gets every selected event, in merge order, from one
//     goroutine, and owns it (Raw is a copy). Sinks implementing
//     event.GapSink also get the outages recorded in the archives.
//   - Advance(t) runs before the first event whose time raises the running
//     maximum of event time to t, and once more at the end of every pass
//     with the last event time + 1. It depends only on the events, never on
//     the pace: a sampler that cuts event time into intervals gives the same
//     output at --speed 1 and --speed max.
//   - Pass(n) runs before pass n ≥ 2 of --loop: event time starts over.
//   - Idle runs when the pacer is about to sleep: flush buffered output.
//   - Close runs exactly once after the replay ended — normally, on an
//     error, or on SIGINT — with a context bounded to 10 s, before the
//     summary is printed: flush and write files here. An error makes the
//     exit code 1.
//   - Linger runs after every sink was closed and the summary printed,
//     only when the replay ended by itself (not on SIGINT or an error). It
//     may block until ctx is cancelled (Ctrl-C): outputs that stay up for a
//     person to look at, as --metrics-addr does, wait here, so they never
//     eat into the other sinks' 10 s to flush.
type replaySinkProvider interface {
	AddFlags(fs *pflag.FlagSet)
	Sinks(ctx context.Context, env replayEnv) ([]replaySink, error)
}

// replayEnv is what a provider gets to build its sinks.
type replayEnv struct {
	Replay         *replay.Replay // opened, not started: Files, Nodes, Span, Range
	Speed          float64        // requested speed (replay.Max when unpaced)
	Stdout, Stderr io.Writer
	Logger         *slog.Logger
}

// replaySink is one output of a replay; only Sink is required.
type replaySink struct {
	Sink        event.Sink
	Description string // for the log and the summary, e.g. "nats nats://127.0.0.1:4222"
	Advance     func(ms int64)
	Pass        func(pass int)
	Idle        func()
	Close       func(ctx context.Context, st replay.Stats) error
	Linger      func(ctx context.Context)
}

var replayProviders []replaySinkProvider

// registerReplaySink adds a provider's flags to `peertape replay` and asks
// it for sinks on every run.
func registerReplaySink(p replaySinkProvider) {
	replayProviders = append(replayProviders, p)
	p.AddFlags(replayCmd.Flags())
}

// replayFlags holds the replay command's own flags.
type replayFlags struct {
	rf          readFlags
	nodes       []string
	speed       string
	skipGaps    seconds
	loop        bool
	delay       seconds
	summaryJSON bool
	keys        bool
}

var replayOpts = &replayFlags{speed: "1", keys: true}

// replayCmd is a package-level variable (not built in init) so providers
// in other files can add flags from their own init functions.
var replayCmd = newReplayCmd(replayOpts)

func init() {
	rootCmd.AddCommand(replayCmd)
	registerReplaySink(&natsReplaySink{listen: "127.0.0.1:4222", maxPayload: natsbus.DefaultMaxPayload})
	registerReplaySink(&jsonReplaySink{})
	registerReplaySink(&nullReplaySink{})
}

func newReplayCmd(f *replayFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay PATH... [--speed N|max] [--from T] [--to T] --nats URL|--embedded-nats|--json|--null",
		Short: "Replay archives as a live event stream, at the recorded pace or faster",
		Long: `replay turns archives back into a live stream: segment files, directories of
segments, .partial files and peer-observer archives, mixed. Files and nodes
are merged by event time (equal times keep the order of the files as given;
inside a file, records keep their arrival order), and every event keeps its
node name.

Pacing: --speed 1 keeps the recorded spacing, 10 is ten times faster, 0.5
half as fast, max as fast as the sinks go. Events are scheduled against the
start of the replay, never against the previous event, so nothing drifts;
when a sink holds the replay back it catches up without sleeping, and the
summary reports the lag (actual minus scheduled send time). A record whose
time steps back from the one before is sent at once after it. --skip-gaps D
shortens every quiet stretch longer than D to D. --loop starts over at the
end until interrupted.

--from/--to select [from, to) by event time (RFC 3339, epoch ms, or an
offset from the first event like +2h); segment indexes skip everything
outside without decompressing it. --only/--exclude select kinds
(netmsg, netmsg:inv, netconn, mempool, validation, addrman, rpc, p2p, log,
ipc, unknown), --node selects nodes.

Sinks, any combination: --nats URL or --embedded-nats [--listen ADDR]
publish every event's original bytes on peer-observer's subject for its kind
(netmsg, netconn, mempool, validation, addrman, rpc, p2p-extractor,
log-extractor, ipc; "unknown" for kinds this build does not know), so
peer-observer's tools consume a replay unchanged. --json writes JSON lines
to stdout (as cat --json), --null drops everything (benchmarks, checks).
The analyzers (the same as peertape metrics runs live, on event time, so
the numbers do not depend on --speed): --metrics-addr ADDR serves their
/metrics and keeps serving after the end until Ctrl-C, --metrics-out FILE
writes the final exposition, --openmetrics FILE [--interval 15s] writes
timestamped samples for promtool tsdb create-blocks-from openmetrics.

On a terminal, stderr shows a progress bar and stdin takes keys:
space pause/resume, n or → one event while paused, + or ↑ twice as fast,
- or ↓ half as fast, q quit. The summary on stderr gives events, duration,
achieved speed and lag; --summary-json prints it as one JSON object.
Ctrl-C (SIGINT) or SIGTERM stops the replay, flushes the sinks and prints
the summary (exit 0). Damaged frames are reported and skipped; the exit
code is then 1 after everything readable was replayed.`,
		Example: `  peertape replay demo/ --embedded-nats --listen 0.0.0.0:4222 --delay 5s
  peertape replay node-a/ node-b/ --nats nats://127.0.0.1:4222 --speed 10 --from +2h --to +3h
  peertape replay archive.20260407-090713-133.bin.zst --speed max --only netmsg:inv --json | jq .event
  peertape replay demo/ --speed max --null --summary-json
  peertape replay demo/ --speed max --metrics-out metrics.txt --openmetrics history.om --interval 15s`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runReplay(cmd, f, args) },
	}
	fs := cmd.Flags()
	f.rf.add(cmd, "only")
	fs.StringSliceVar(&f.nodes, "node", nil, "only these nodes (names from segment metadata, or the base name of a peer-observer archive)")
	fs.StringVar(&f.speed, "speed", f.speed, "pace factor: 1 = as recorded, 10 = ten times faster, 0.5, … or max")
	fs.Var(&f.skipGaps, "skip-gaps", "shorten quiet stretches longer than this to this (0: keep them)")
	fs.BoolVar(&f.loop, "loop", false, "start over at the end until interrupted")
	fs.Var(&f.delay, "delay", "wait this long before the first event (lets subscribers connect to --embedded-nats)")
	fs.BoolVar(&f.summaryJSON, "summary-json", false, "print the summary on stderr as one JSON object")
	fs.BoolVar(&f.keys, "keys", f.keys, "take keyboard controls when stdin is a terminal")
	return cmd
}

// parseSpeed parses --speed: a positive factor ("10", "0.5", "10x") or max.
func parseSpeed(s string) (float64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "max" || s == "inf" {
		return replay.Max, nil
	}
	x, err := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64)
	if err != nil || !(x > 0) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("--speed %q: want a positive factor like 1, 0.5, 10, or max", s)
	}
	return x, nil
}

func formatSpeed(x float64) string {
	if math.IsInf(x, 1) {
		return "max"
	}
	return strconv.FormatFloat(x, 'g', 4, 64) + "x"
}

func (f *replayFlags) options() ([]replay.Option, float64, error) {
	if err := f.rf.parse(); err != nil {
		return nil, 0, err
	}
	speed, err := parseSpeed(f.speed)
	if err != nil {
		return nil, 0, usageError{err}
	}
	if f.skipGaps < 0 || f.delay < 0 {
		return nil, 0, usagef("--skip-gaps and --delay must not be negative")
	}
	opts := append(replaySelection(f.rf, f.nodes),
		replay.Speed(speed), replay.SkipGaps(time.Duration(f.skipGaps)))
	if f.loop {
		opts = append(opts, replay.Loop(0))
	}
	return opts, speed, nil
}

// replaySelection is the part of a replay's options that selects events —
// time range, kinds and nodes — shared by replay and analyze so both read
// the same stretch for the same flags.
func replaySelection(rf readFlags, nodes []string) []replay.Option {
	opts := []replay.Option{
		replay.From(rf.fromSpec), replay.To(rf.toSpec),
		replay.Only(rf.only...), replay.Exclude(rf.exclude...),
	}
	if len(nodes) > 0 {
		var names []string
		for _, n := range nodes {
			names = append(names, strings.Split(n, ",")...)
		}
		opts = append(opts, replay.Nodes(names...))
	}
	return opts
}

func runReplay(cmd *cobra.Command, f *replayFlags, args []string) error {
	opts, speed, err := f.options()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	log := slog.Default()

	// The hooks dispatch to the sinks, which are built once the archives
	// are open (providers get to see what will be replayed).
	var sinks []replaySink
	problems := 0
	opts = append(opts,
		replay.OnProblem(func(err error) {
			problems++
			slog.Warn("skipped damaged data", "err", err)
		}),
		replay.OnAdvance(func(ms int64) {
			for _, s := range sinks {
				if s.Advance != nil {
					s.Advance(ms)
				}
			}
		}),
		replay.OnPass(func(n int) {
			for _, s := range sinks {
				if s.Pass != nil {
					s.Pass(n)
				}
			}
		}),
		replay.OnIdle(func() {
			for _, s := range sinks {
				if s.Idle != nil {
					s.Idle()
				}
			}
		}),
	)
	var ctl *replay.Control
	if f.keys && stdinIsTerminal() {
		ctl = replay.NewControl()
		opts = append(opts, replay.WithControl(ctl))
	}
	r, err := replay.Open(args, opts...)
	if err != nil {
		return err
	}
	defer r.Close()
	if len(r.Files()) == 0 {
		return fmt.Errorf("nothing to replay: no file holds events of the selected nodes, kinds and time range")
	}

	env := replayEnv{Replay: r, Speed: speed, Stdout: stdout, Stderr: stderr, Logger: log}
	closed := false
	closeSinks := func(st replay.Stats) error {
		if closed {
			return nil
		}
		closed = true
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		var errs []error
		for i := len(sinks) - 1; i >= 0; i-- {
			if c := sinks[i].Close; c != nil {
				if err := c(cctx, st); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", sinks[i].Description, err))
				}
			}
		}
		return errors.Join(errs...)
	}
	defer closeSinks(replay.Stats{})
	for _, p := range replayProviders {
		ss, err := p.Sinks(ctx, env)
		if err != nil {
			return err
		}
		sinks = append(sinks, ss...)
	}
	if len(sinks) == 0 {
		return usagef("no sink: give --nats URL, --embedded-nats, --json or --null (or a sink another command file adds)")
	}
	var all []event.Sink
	var descs []string
	for _, s := range sinks {
		all = append(all, s.Sink)
		descs = append(descs, s.Description)
	}
	first, last := r.Span()
	to := event.FormatTime(last)
	if _, rto := r.Range(); rto == 0 || last < rto-1 {
		// Files without an index (.partial, peer-observer archives) tell
		// their end only once read: do not present their start as the end.
		for _, fi := range r.Files() {
			if !fi.Indexed {
				to += " or later (files without index)"
				break
			}
		}
	}
	log.Info("replaying", "files", len(r.Files()), "nodes", strings.Join(r.Nodes(), ","),
		"from", event.FormatTime(first), "to", to, "speed", formatSpeed(speed), "sinks", strings.Join(descs, "; "))

	errOut, restore := stderr, func() {}
	if ctl != nil {
		w, rst, err := startKeys(cancel, ctl, stderr)
		if err != nil {
			log.Warn("keyboard control unavailable", "err", err)
		} else {
			errOut, restore = w, rst
			defer rst()
		}
	}
	if f.delay > 0 {
		log.Info("waiting before the first event", "delay", time.Duration(f.delay).String())
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(f.delay)):
		}
	}
	bar := newReplayProgress(stderr, errOut, r)
	runErr := r.Run(ctx, event.Tee(all...))
	bar.Done()
	restore()
	st := r.Stats()
	interrupted := errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded)
	if interrupted {
		runErr = nil
	}
	closeErr := closeSinks(st)
	printReplaySummary(stderr, f.summaryJSON, st, r, descs)
	if !interrupted && runErr == nil && closeErr == nil && ctx.Err() == nil {
		for _, s := range sinks {
			if s.Linger != nil {
				s.Linger(ctx)
			}
		}
	}
	switch {
	case runErr != nil:
		return runErr
	case closeErr != nil:
		return closeErr
	case problems > 0:
		return exitCodeError{code: exitError, msg: fmt.Sprintf("%d problems (every readable event was replayed)", problems)}
	}
	return nil
}

// replaySummary is the --summary-json object. Keys are stable; new keys
// may be added.
type replaySummary struct {
	Events           uint64   `json:"events"`
	Bytes            uint64   `json:"bytes"`
	Files            int      `json:"files"`
	FilesOpened      int      `json:"files_opened"`
	MaxOpenFiles     int      `json:"max_open_files"`
	Nodes            []string `json:"nodes"`
	Sinks            []string `json:"sinks"`
	Passes           int      `json:"passes"`
	FirstEventTimeMs int64    `json:"first_event_time_ms"`
	LastEventTimeMs  int64    `json:"last_event_time_ms"`
	EventTimeS       float64  `json:"event_time_s"`
	SkippedS         float64  `json:"skipped_s"`
	WallS            float64  `json:"wall_s"`
	PausedS          float64  `json:"paused_s"`
	Speed            string   `json:"speed"`
	AchievedSpeed    float64  `json:"achieved_speed"`
	EventsPerSecond  float64  `json:"events_per_second"`
	LagP50Ms         float64  `json:"lag_p50_ms"`
	LagP99Ms         float64  `json:"lag_p99_ms"`
	LagMaxMs         float64  `json:"lag_max_ms"`
	PacedEvents      uint64   `json:"paced_events"`
	Backward         uint64   `json:"backward"`
	Gaps             int      `json:"gaps"`
	Problems         int      `json:"problems"`
	Stopped          bool     `json:"stopped"`
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func printReplaySummary(w io.Writer, asJSON bool, st replay.Stats, r *replay.Replay, sinks []string) {
	if asJSON {
		s := replaySummary{
			Events: st.Events, Bytes: st.Bytes, Files: st.Files, FilesOpened: st.FilesOpened, MaxOpenFiles: st.MaxOpen,
			Nodes: r.Nodes(), Sinks: sinks, Passes: st.Passes,
			FirstEventTimeMs: st.First, LastEventTimeMs: st.Last,
			EventTimeS: st.EventTime.Seconds(), SkippedS: st.Skipped.Seconds(), WallS: st.Wall.Seconds(), PausedS: st.Paused.Seconds(),
			Speed: formatSpeed(st.Speed), AchievedSpeed: st.Achieved, EventsPerSecond: st.EventsPerSecond(),
			LagP50Ms: msOf(st.LagP50), LagP99Ms: msOf(st.LagP99), LagMaxMs: msOf(st.LagMax), PacedEvents: st.Paced,
			Backward: st.Backward, Gaps: st.Gaps, Problems: st.Problems, Stopped: st.Stopped,
		}
		if s.Nodes == nil {
			s.Nodes = []string{}
		}
		if math.IsInf(s.AchievedSpeed, 0) || math.IsNaN(s.AchievedSpeed) {
			s.AchievedSpeed = 0
		}
		b, _ := json.Marshal(s)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "replayed %s events (%s) from %d files", formatCount(st.Events), formatBytes(int64(st.Bytes)), st.Files)
	if nodes := r.Nodes(); len(nodes) > 0 {
		fmt.Fprintf(&b, ", node %s", strings.Join(nodes, ", "))
	}
	if st.Passes > 1 {
		fmt.Fprintf(&b, ", %d passes", st.Passes)
	}
	if st.Stopped {
		b.WriteString(" — stopped early")
	}
	b.WriteString("\n")
	if st.Events > 0 {
		fmt.Fprintf(&b, "  event time  %s → %s (%s", event.FormatTime(st.First), event.FormatTime(st.Last), roundDur(st.EventTime))
		if st.Skipped > 0 {
			fmt.Fprintf(&b, ", %s of gaps skipped", roundDur(st.Skipped))
		}
		b.WriteString(")\n")
	}
	fmt.Fprintf(&b, "  wall time   %s", roundDur(st.Wall))
	if st.Paused > 0 {
		fmt.Fprintf(&b, " (%s paused)", roundDur(st.Paused))
	}
	fmt.Fprintf(&b, ", speed %s", formatSpeed(st.Speed))
	if st.Achieved > 0 && !math.IsInf(st.Achieved, 0) {
		fmt.Fprintf(&b, ", achieved %.4gx", st.Achieved)
	}
	fmt.Fprintf(&b, ", %s events/s\n", formatCount(uint64(st.EventsPerSecond())))
	if st.Paced > 0 {
		fmt.Fprintf(&b, "  lag         p50 %s, p99 %s, max %s (actual − scheduled send time)\n", fmtLag(st.LagP50), fmtLag(st.LagP99), fmtLag(st.LagMax))
	}
	if st.Backward > 0 {
		fmt.Fprintf(&b, "  %s records earlier than the one before them were sent right after it\n", formatCount(st.Backward))
	}
	if st.Gaps > 0 {
		fmt.Fprintf(&b, "  %d recorded outages forwarded\n", st.Gaps)
	}
	if st.Problems > 0 {
		fmt.Fprintf(&b, "  %d damaged frames or files skipped (logged above)\n", st.Problems)
	}
	io.WriteString(w, b.String())
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

func fmtLag(d time.Duration) string {
	return strconv.FormatFloat(msOf(d), 'f', 2, 64) + "ms"
}

// ---- built-in sinks ----

// natsReplaySink publishes to NATS: an external server (--nats) or one
// started in-process (--embedded-nats).
type natsReplaySink struct {
	url        string
	embedded   bool
	listen     string
	maxPayload byteSize
}

func (p *natsReplaySink) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&p.url, "nats", "", "publish to the NATS server at URL (nats://host:4222)")
	fs.BoolVar(&p.embedded, "embedded-nats", false, "start a NATS server in-process and publish to it")
	fs.StringVar(&p.listen, "listen", p.listen, "address of the --embedded-nats server (port 0: any free port)")
	fs.Var(&p.maxPayload, "max-payload", "largest message the --embedded-nats server accepts")
}

func (p *natsReplaySink) Sinks(ctx context.Context, env replayEnv) ([]replaySink, error) {
	if p.url == "" && !p.embedded {
		return nil, nil
	}
	if p.url != "" && p.embedded {
		return nil, usagef("--nats and --embedded-nats exclude each other")
	}
	url := p.url
	var srv *natsbus.Server
	if p.embedded {
		host, port, err := splitHostPort(p.listen)
		if err != nil {
			return nil, usagef("--listen: %v", err)
		}
		if port == 0 {
			port = -1
		}
		if p.maxPayload <= 0 || p.maxPayload > 64<<20 {
			return nil, usagef("--max-payload %s: want 1 B .. 64 MiB", formatBytes(int64(p.maxPayload)))
		}
		srv, err = natsbus.StartServer(natsbus.ServerOptions{Host: host, Port: port, MaxPayload: int32(p.maxPayload), Logger: env.Logger})
		if err != nil {
			return nil, err
		}
		url = srv.ClientURL()
		env.Logger.Info("embedded NATS server running", "url", url)
	}
	nc, err := nats.Connect(url, nats.Name("peertape replay"), nats.MaxReconnects(-1), nats.ReconnectBufSize(64<<20))
	if err != nil {
		if srv != nil {
			srv.Close()
		}
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	pub := natsbus.NewPublisher(nc, natsbus.PublisherOptions{Logger: env.Logger})
	return []replaySink{{
		Sink:        pub,
		Description: "nats " + url,
		Close: func(ctx context.Context, _ replay.Stats) error {
			// Everything published reaches the server before the summary.
			err := pub.Flush(ctx)
			nc.Close()
			if srv != nil {
				srv.Close()
			}
			if published, failed, _ := pub.Stats(); failed > 0 {
				env.Logger.Warn("some events were not published", "published", published, "refused", failed)
			}
			return err
		},
	}}, nil
}

// jsonReplaySink writes JSON lines to stdout.
type jsonReplaySink struct{ enabled bool }

func (p *jsonReplaySink) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&p.enabled, "json", false, "write events as JSON lines to stdout (as cat --json)")
}

func (p *jsonReplaySink) Sinks(_ context.Context, env replayEnv) ([]replaySink, error) {
	if !p.enabled {
		return nil, nil
	}
	js := replay.NewJSONSink(env.Stdout)
	return []replaySink{{
		Sink:        js,
		Description: "json stdout",
		Idle:        func() { js.Flush() },
		Close: func(context.Context, replay.Stats) error {
			if js.Skipped > 0 {
				env.Logger.Warn("events that did not decode were left out of the JSON", "events", js.Skipped)
			}
			return js.Flush()
		},
	}}, nil
}

// nullReplaySink drops every event.
type nullReplaySink struct{ enabled bool }

func (p *nullReplaySink) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&p.enabled, "null", false, "drop every event (benchmarks, end-to-end checks)")
}

func (p *nullReplaySink) Sinks(context.Context, replayEnv) ([]replaySink, error) {
	if !p.enabled {
		return nil, nil
	}
	return []replaySink{{Sink: replay.Discard, Description: "null"}}, nil
}

// stdinIsTerminal reports whether stdin is an interactive terminal.
func stdinIsTerminal() bool { return isTerminal(os.Stdin) }
