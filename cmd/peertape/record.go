package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/natsbus"
	"github.com/peertape/peertape/record"
)

// Adding a source to `peertape record` from another file
//
// An in-process extractor joins the recorder through recordSourceProvider,
// without editing this file. In its own file (say record_ebpf.go):
//
//	type ebpfRecordSource struct{ enabled bool; flags *ebpfFlags }
//
//	func init() { registerRecordSource(&ebpfRecordSource{}) }
//
//	func (p *ebpfRecordSource) AddFlags(fs *pflag.FlagSet) {
//		fs.BoolVar(&p.enabled, "ebpf", false, "record bitcoind's USDT tracepoints in-process")
//		p.flags = bindEBPFFlags(fs)
//	}
//
//	func (p *ebpfRecordSource) Sources(ctx context.Context, env recordEnv) ([]recordSource, error) {
//		if !p.enabled {
//			return nil, nil // flags not used: no source
//		}
//		... build the extractor with env.Registerer and env.Logger ...
//		return []recordSource{{Source: x, Description: "ebpf " + path}}, nil
//	}
//
// AddFlags runs while the package initializes (registerRecordSource may be
// called from any init function: recordCmd exists before every init runs).
// Flag names must not collide with the record command's own flags or with
// another provider's. Sources runs after the flags are parsed and before
// recording starts; a usage mistake is returned as usagef(...), anything
// else as an error (exit 1). The returned sources run concurrently and may
// call the sink from their own goroutines; each description goes into the
// segments' metadata ("source"), joined with "; ". Close, when set, runs
// after recording stopped.
type recordSourceProvider interface {
	AddFlags(fs *pflag.FlagSet)
	Sources(ctx context.Context, env recordEnv) ([]recordSource, error)
}

// recordEnv is what a provider gets to build its sources.
type recordEnv struct {
	Node       string                // --node
	Registerer prometheus.Registerer // the recorder's registry (metrics served on --metrics-addr)
	Logger     *slog.Logger
}

// recordSource is one source a provider contributes.
type recordSource struct {
	Source      event.Source
	Description string
	Close       func()
}

var recordProviders []recordSourceProvider

// registerRecordSource adds a provider's flags to `peertape record` and
// asks it for sources on every run.
func registerRecordSource(p recordSourceProvider) {
	recordProviders = append(recordProviders, p)
	p.AddFlags(recordCmd.Flags())
}

// recordFlags holds the record command's own flags.
type recordFlags struct {
	dir, node                string
	natsURL                  string
	subjects                 []string
	natsUser, natsPassFile   string
	embedded                 bool
	listen                   string
	maxPayload               byteSize
	only, exclude            []string
	lowData                  bool
	maxSize                  byteSize
	maxAge                   seconds
	retainSize               byteSize
	retainAge                seconds
	flushInterval            seconds
	fsync                    string
	fsyncInterval            seconds
	compact                  bool
	compactLevel             int
	level                    int
	metricsAddr              string
	minFree                  byteSize
	labels                   []string
	frameSize, window        byteSize
	frameAge                 seconds
	shutdownTimeout, hardCap seconds
	statusEvery              seconds
}

var recordOpts = &recordFlags{
	listen:          "127.0.0.1:4222",
	maxPayload:      natsbus.DefaultMaxPayload,
	maxSize:         record.DefaultMaxSegmentSize,
	maxAge:          seconds(record.DefaultMaxSegmentAge),
	flushInterval:   seconds(format.DefaultFlushInterval),
	fsyncInterval:   seconds(format.DefaultFsyncInterval),
	compactLevel:    19,
	level:           format.DefaultLevel,
	metricsAddr:     "127.0.0.1:8283",
	minFree:         record.DefaultMinFree,
	frameSize:       format.DefaultFrameSize,
	window:          record.DefaultWindowSize,
	frameAge:        seconds(format.DefaultFrameAge),
	shutdownTimeout: seconds(record.DefaultShutdownTimeout),
	hardCap:         10 * seconds(time.Second),
	statusEvery:     seconds(time.Minute),
}

// recordCmd is a package-level variable (not built in init) so providers
// in other files can add flags from their own init functions.
var recordCmd = newRecordCmd(recordOpts)

func init() { rootCmd.AddCommand(recordCmd) }

func newRecordCmd(f *recordFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "record --dir DIR --node NAME (--nats URL | --embedded-nats | --rpc-host/--p2p-address/--log-file/--ebpf ...) [flags]",
		Short: "Record every event into rotating, compressed segment files",
		Long: `record runs for months beside a node and writes every event, byte for byte
as it arrived, into rotating segments in DIR (NODE-YYYYMMDDTHHMMSSZ-SEQ.seg.zst;
the one being written ends in .partial). Sources: a NATS server peer-observer's
extractors publish to (--nats, subscribing to "*" like peer-observer's tools),
or an embedded NATS server they can publish to directly (--embedded-nats, max
payload 5 MiB as peer-observer requires), plus in-process extractors where built.

Durability: the open frame is flushed every --flush-interval, so kill -9 loses
at most that much; --fsync says when data is forced to disk (always: after every
flush; interval: every 10 s; segment: when a segment is finished). SIGINT and
SIGTERM stop taking events, write what is buffered and finalize the segment
(index, trailer, fsync, rename) within 10 s, even when NATS is unreachable, and
exit 0. At start, leftover .partial files in DIR are recovered first.

Disk full: when the free space in DIR falls below --min-free the recorder
finalizes the active segment with everything it received, logs an error and
exits 1 (a write failing anyway, e.g. ENOSPC from another process filling the
disk, also finalizes up to the last complete frame and exits 1). It does not
resume by itself and refuses to start below --min-free: run it under a
supervisor (systemd Restart=on-failure) and it resumes once space is back.

Retention (--retain-size, --retain-age) deletes finished segments of --node,
oldest first, never the active one. --compact recompresses each rotated segment
at --compact-level in a child process (peertape compact) under nice 19 and the
idle I/O class, one at a time.

Payloads that are not protobuf at all are kept in DIR/malformed.jsonl (one JSON
object per line: time, subject, bytes, base64 data) and counted; they never
enter a segment. Only one recorder may use a DIR (lock file DIR/.peertape.lock).

Metrics (peertape_*) are served on --metrics-addr /metrics; "" disables.`,
		Example: `  # beside peer-observer's extractors publishing to their NATS server
  peertape record --dir /var/lib/peertape --node mainnet-1 --nats nats://127.0.0.1:4222

  # the recorder hosts NATS; point the extractors at 127.0.0.1:4222
  peertape record --dir /var/lib/peertape --node mainnet-1 --embedded-nats \
      --retain-size 200GiB --compact

  # all in one, no NATS: the RPC, P2P and log extractors in-process, with the
  # flags of peertape extract rpc|p2p|log (start bitcoind with -addnode=127.0.0.1:9333)
  peertape record --dir /var/lib/peertape --node mainnet-1 \
      --rpc-cookie-file /var/lib/bitcoind/.cookie --p2p-address 127.0.0.1:9333 \
      --log-file /var/lib/bitcoind/debug.log --retain-size 200GiB --compact

  # only P2P messages, without raw transactions and blocks
  peertape record --dir /srv/tape --node alice --nats nats://10.0.0.5:4222 \
      --only netmsg --low-data --max-segment-age 24h --retain-age 720h`,
		Args: cobra.NoArgs,
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", "", "directory for the segments (required; created if missing)")
	fl.StringVar(&f.node, "node", "", "node name, in file names and metadata (required)")
	fl.StringVar(&f.natsURL, "nats", "", "subscribe to this NATS server, e.g. nats://127.0.0.1:4222")
	fl.StringSliceVar(&f.subjects, "subjects", nil, `NATS subjects to subscribe to (default "*": every peer-observer subject; with several, arrival order is kept within each subject, not across them)`)
	fl.StringVar(&f.natsUser, "nats-user", "", "NATS user name")
	fl.StringVar(&f.natsPassFile, "nats-password-file", "", "file holding the NATS password")
	fl.BoolVar(&f.embedded, "embedded-nats", false, "start an embedded NATS server on --listen and record what is published to it")
	fl.StringVar(&f.listen, "listen", f.listen, "listen address of the embedded NATS server (port 0: any free port)")
	fl.Var(&f.maxPayload, "max-payload", "max_payload of the embedded NATS server")
	fl.StringSliceVar(&f.only, "only", nil, "record only these kinds or kind:type (netmsg, netmsg:inv, netconn:inbound, mempool, validation, addrman, rpc, p2p, log, ipc, unknown)")
	fl.StringSliceVar(&f.exclude, "exclude", nil, "leave out these kinds or kind:type")
	fl.BoolVar(&f.lowData, "low-data", false, "strip raw transaction and block bytes as peer-observer's archiver --low-data does (marked in the metadata)")
	fl.Var(&f.maxSize, "max-segment-size", "start a new segment once the active one has this many compressed bytes")
	fl.Var(&f.maxAge, "max-segment-age", "start a new segment at multiples of this in UTC (1h: on the hour); 0 disables")
	fl.Var(&f.retainSize, "retain-size", "delete the oldest segments while the node's segments take more than this (0: keep all)")
	fl.Var(&f.retainAge, "retain-age", "delete segments whose last event is older than this (0: keep all)")
	fl.Var(&f.flushInterval, "flush-interval", "flush the open frame at least this often while events arrive (bounds what kill -9 loses)")
	fl.StringVar(&f.fsync, "fsync", "interval", "when to fsync: always (after every flush), interval (every --fsync-interval), segment (when a segment is finished)")
	fl.Var(&f.fsyncInterval, "fsync-interval", "period of --fsync interval")
	fl.BoolVar(&f.compact, "compact", false, "recompress rotated segments in the background (peertape compact under nice 19, idle I/O)")
	fl.IntVar(&f.compactLevel, "compact-level", f.compactLevel, "zstd level for --compact")
	fl.IntVar(&f.level, "level", f.level, "zstd level while recording (1..22; low keeps the CPU cost small, --compact shrinks later)")
	fl.StringVar(&f.metricsAddr, "metrics-addr", f.metricsAddr, `serve Prometheus metrics on this address (/metrics); "" disables`)
	fl.Var(&f.minFree, "min-free", "stop cleanly (exit 1) when less than this is free in DIR; 0 disables the guard")
	fl.StringArrayVar(&f.labels, "label", nil, "key=value stored in the segment metadata (repeatable)")
	fl.Var(&f.frameSize, "frame-size", "raw bytes per zstd frame (advanced)")
	fl.Var(&f.window, "window", "zstd window while recording, a power of two (memory use is about twice this)")
	fl.Var(&f.frameAge, "frame-age", "longest a zstd frame stays open (advanced)")
	fl.Var(&f.shutdownTimeout, "shutdown-timeout", "how long sources may hand over buffered events at shutdown (advanced)")
	fl.Var(&f.statusEvery, "status-interval", "period of the status line on a terminal (advanced)")
	for _, n := range []string{"frame-size", "frame-age", "shutdown-timeout", "status-interval"} {
		fl.MarkHidden(n)
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runRecord(cmd, f) }
	return cmd
}

// options turns the flags into recorder options; mistakes are usage errors.
func (f *recordFlags) options() (record.Options, error) {
	var o record.Options
	if f.dir == "" {
		return o, usagef("--dir is required")
	}
	if f.node == "" {
		return o, usagef("--node is required")
	}
	filter, err := event.NewFilter(f.only, f.exclude)
	if err != nil {
		return o, usageError{err}
	}
	fsync, err := format.ParseFsyncPolicy(f.fsync)
	if err != nil {
		return o, usageError{err}
	}
	if f.level < 1 || f.level > 22 {
		return o, usagef("--level %d: want 1..22", f.level)
	}
	if w := int64(f.window); w < 1<<10 || w > 512<<20 || w&(w-1) != 0 {
		return o, usagef("--window %s: want a power of two from 1 KiB to 512 MiB", formatBytes(w))
	}
	if f.flushInterval <= 0 {
		return o, usagef("--flush-interval must be positive")
	}
	labels := map[string]string{}
	for _, l := range f.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return o, usagef("--label %q: want key=value", l)
		}
		labels[k] = v
	}
	o = record.Options{
		Dir:             f.dir,
		Node:            f.node,
		Filter:          filter,
		LowData:         f.lowData,
		MaxSegmentSize:  int64(f.maxSize),
		MaxSegmentAge:   time.Duration(f.maxAge),
		RetainSize:      int64(f.retainSize),
		RetainAge:       time.Duration(f.retainAge),
		Level:           f.level,
		FlushInterval:   time.Duration(f.flushInterval),
		Fsync:           fsync,
		FsyncInterval:   time.Duration(f.fsyncInterval),
		FrameSize:       int64(f.frameSize),
		WindowSize:      int(f.window),
		FrameAge:        time.Duration(f.frameAge),
		MinFree:         int64(f.minFree),
		CompactLevel:    f.compactLevel,
		ShutdownTimeout: time.Duration(f.shutdownTimeout),
		Recorder:        "peertape " + version,
		Labels:          labels,
	}
	if o.MaxSegmentAge == 0 {
		o.MaxSegmentAge = -1
	}
	if o.MinFree == 0 {
		o.MinFree = -1
	}
	if len(labels) == 0 {
		o.Labels = nil
	}
	if f.compact {
		o.Compact = compactInChild(f.compactLevel)
	}
	return o, nil
}

func runRecord(cmd *cobra.Command, f *recordFlags) error {
	o, err := f.options()
	if err != nil {
		return err
	}
	if f.embedded && f.natsURL != "" {
		return usagef("--nats and --embedded-nats exclude each other")
	}
	if f.maxPayload <= 0 || f.maxPayload > 64<<20 {
		return usagef("--max-payload %s: want 1 B .. 64 MiB", formatBytes(int64(f.maxPayload)))
	}
	if !f.embedded && f.natsURL == "" && (len(f.subjects) > 0 || f.natsUser != "") {
		return usagef("--subjects and --nats-user need --nats or --embedded-nats")
	}
	var natsPass string
	if f.natsPassFile != "" {
		b, err := os.ReadFile(f.natsPassFile)
		if err != nil {
			return usagef("--nats-password-file: %v", err)
		}
		natsPass = strings.TrimSpace(string(b))
	}
	ctx := cmd.Context()
	log := slog.Default()

	reg := prometheus.NewRegistry()
	// Go and process metrics (RSS, CPU, fds) under the same prefix.
	prefixed := prometheus.WrapRegistererWithPrefix("peertape_", reg)
	prefixed.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	env := recordEnv{Node: f.node, Registerer: reg, Logger: log}

	// Provider sources are built first: a usage mistake there should not
	// leave a lock taken or a port bound.
	var sources []event.Source
	var descs []string
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for _, p := range recordProviders {
		srcs, err := p.Sources(ctx, env)
		if err != nil {
			return err
		}
		for _, s := range srcs {
			sources = append(sources, s.Source)
			descs = append(descs, s.Description)
			if s.Close != nil {
				closers = append(closers, s.Close)
			}
		}
	}
	if !f.embedded && f.natsURL == "" && len(sources) == 0 {
		return usagef("no source: give --nats URL or --embedded-nats, or in-process extractors (--rpc-host, --p2p-address, --log-file, --ebpf)")
	}

	// The lock comes before the NATS port, so a second recorder on the
	// same directory says so instead of "address in use".
	subjects := f.subjects
	if len(subjects) == 0 {
		subjects = []string{"*"}
	}
	natsURL := f.natsURL
	if f.embedded {
		natsURL = "embedded " + f.listen
	}
	if f.embedded || f.natsURL != "" {
		descs = append([]string{fmt.Sprintf("nats %s %s", natsURL, strings.Join(subjects, ","))}, descs...)
	}
	o.Source = strings.Join(descs, "; ")
	o.Registerer, o.Logger = reg, log
	rec, err := record.New(o)
	if err != nil {
		return err
	}
	defer rec.Close()

	if f.metricsAddr != "" {
		stop, err := serveRecordMetrics(f.metricsAddr, reg, prefixed)
		if err != nil {
			return err
		}
		defer stop()
	}

	var sub *natsbus.Subscriber
	if f.embedded {
		host, port, err := splitHostPort(f.listen)
		if err != nil {
			return usagef("--listen: %v", err)
		}
		if port == 0 {
			port = -1 // natsbus: any free port
		} else {
			// Say at once when the port is taken (the server would only
			// give up after its 10 s readiness wait).
			ln, err := net.Listen("tcp", f.listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			ln.Close()
		}
		srv, err := natsbus.StartServer(natsbus.ServerOptions{Host: host, Port: port, MaxPayload: int32(f.maxPayload), Logger: log})
		if err != nil {
			return err
		}
		// Closed after the recorder finished: extractors keep a server to
		// talk to until the end.
		defer srv.Close()
		natsURL = srv.ClientURL()
		log.Info("embedded NATS server running; point the extractors at it", "url", natsURL, "max_payload", int64(f.maxPayload))
	}
	if natsURL != "" {
		sub = natsbus.NewSubscriber(natsURL, natsbus.SubscriberOptions{
			Subjects: subjects, Node: f.node, Name: "peertape record " + f.node,
			User: f.natsUser, Password: natsPass,
			DrainTimeout: 3 * time.Second,
			// Reading the socket in batches saves most of the CPU at
			// per-event publishing; the delay it adds stays a small
			// part of what --flush-interval already allows.
			ReadCoalesce: readCoalesce(time.Duration(f.flushInterval)),
			OnMalformed:  rec.Malformed,
			Registerer:   reg, Logger: log,
		})
		sources = append([]event.Source{nodeInfoFromEvents(sub)}, sources...)
	}

	// Hard cap on shutdown: whatever hangs (a dead disk in fsync), the
	// process ends 10 s after the signal; a .partial left behind is
	// recovered at the next start.
	go func() {
		<-ctx.Done()
		t := time.NewTimer(time.Duration(f.hardCap))
		defer t.Stop()
		<-t.C
		log.Error("shutdown did not finish in time; exiting (the .partial segment is recovered at the next start)", "limit", time.Duration(f.hardCap))
		os.Exit(exitError)
	}()
	go func() {
		// "recording" means events published from now on are recorded:
		// for NATS, once the subscription is registered with the server.
		if sub != nil {
			select {
			case <-sub.Ready():
			case <-ctx.Done():
				return
			}
		}
		args := []any{"dir", o.Dir, "node", o.Node, "source", o.Source}
		if seg := rec.Stats().Segment; seg != "" {
			args = append(args, "segment", seg)
		}
		log.Info("recording", args...)
	}()
	if stderrIsTerminal(cmd.ErrOrStderr()) {
		go statusLine(ctx, cmd.ErrOrStderr(), rec, time.Duration(f.statusEvery))
	}

	runErr := rec.Run(ctx, sources...)
	closeErr := rec.Close()
	st := rec.Stats()
	log.Info("recorder finished", "events", st.Events)
	switch {
	case runErr != nil:
		return runErr
	case closeErr != nil:
		return closeErr
	}
	return nil
}

// serveRecordMetrics serves reg on addr's /metrics until stop is called.
// Unlike serveMetrics it registers the handler's own error counter under
// the peertape_ prefix too, so every name the recorder exposes has it.
func serveRecordMetrics(addr string, reg *prometheus.Registry, prefixed prometheus.Registerer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: prefixed}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	slog.Info("serving metrics", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

// readCoalesce is the subscriber's ReadCoalesce for a flush interval: the
// default, or a twentieth of a shorter interval (negative: off).
func readCoalesce(flush time.Duration) time.Duration {
	if d := min(natsbus.DefaultReadCoalesce, flush/20); d > 0 {
		return d
	}
	return -1
}

// statusLine prints one line every period (a minute) while stderr is a
// terminal.
func statusLine(ctx context.Context, w io.Writer, rec *record.Recorder, every time.Duration) {
	t := time.NewTicker(max(every, 100*time.Millisecond))
	defer t.Stop()
	last, lastAt := rec.Stats().Events, time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			st := rec.Stats()
			rate := float64(st.Events-last) / now.Sub(lastAt).Seconds()
			last, lastAt = st.Events, now
			ago := "never"
			if !st.LastEvent.IsZero() {
				ago = now.Sub(st.LastEvent).Round(100*time.Millisecond).String() + " ago"
			}
			fmt.Fprintf(w, "%s  %s events (%.0f/s)  segment %s %s  last event %s\n", now.Format("15:04:05"),
				formatCount(st.Events), rate, st.Segment, formatBytes(st.SegmentBytes), ago)
		}
	}
}

// compactInChild returns a record.Options.Compact that runs `peertape
// compact` on a segment in a child process at the lowest CPU and I/O
// priority. Go cannot lower the priority of one goroutine (a goroutine
// moves between threads, and nice applies per thread), so compaction runs
// in its own process, started under nice -n 19 and ionice -c 3 (idle),
// with GOMAXPROCS=1. Without nice or ionice on PATH it runs at normal
// priority and says so once.
func compactInChild(level int) func(ctx context.Context, path string) error {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	var prefix []string
	if p, err := exec.LookPath("ionice"); err == nil {
		prefix = append(prefix, p, "-c", "3")
	} else {
		slog.Warn("ionice not found; --compact runs at normal I/O priority")
	}
	if p, err := exec.LookPath("nice"); err == nil {
		prefix = append(prefix, p, "-n", "19")
	} else {
		slog.Warn("nice not found; --compact runs at normal CPU priority")
	}
	return func(ctx context.Context, path string) error {
		args := append(append([]string{}, prefix...), exe, "compact", "--level", strconv.Itoa(level), path)
		c := exec.CommandContext(ctx, args[0], args[1:]...)
		c.Env = append(os.Environ(), "GOMAXPROCS=1")
		c.WaitDelay = 2 * time.Second
		out, err := c.CombinedOutput()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("peertape compact %s: %w: %s", path, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
}
