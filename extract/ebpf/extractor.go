// Package ebpf is peertape's eBPF extractor: it attaches BPF programs to
// the USDT tracepoints of a running Bitcoin Core node (net, mempool and
// validation, the set peer-observer's Rust extractor uses), reads their
// records from ring buffers, decodes P2P payloads with btcd's wire package
// and emits peer-observer event.Event values, byte-compatible with the
// Rust extractor's, to an event.Sink.
//
// The extractor follows the node: given a pid file it waits for bitcoind
// to start, attaches, and when the process exits waits for the next one and
// attaches again. Everything that can lose data is counted in Prometheus
// metrics and logged: ring buffer overflows (counted in BPF), records the
// probes could not fill, payloads that did not parse.
//
// Differences from peer-observer's extractor, all in favour of keeping
// data: string buffers hold the longest real values (peer-observer cuts
// 12-character message types such as getcfcheckpt to 11 characters, the
// removal reason sizelimit to "sizelimi", and TorV3 addresses with a
// 5-digit port by one character); a message whose payload does not parse
// is published in the Unknown arm with its raw payload instead of being
// dropped; event timestamps are taken when the probe fires (the BPF boot
// clock converted to Unix time), not when user space gets to the record.
package ebpf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/peertape/peertape/bpf"
	"github.com/peertape/peertape/bpf/usdt"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// Tracepoint groups, as peer-observer's --no-*-tracepoints flags name them.
const (
	GroupP2PMessages = "p2pmsg"
	GroupConnections = "connection"
	GroupMempool     = "mempool"
	GroupValidation  = "validation"
)

// tracepoint is one USDT probe the extractor attaches to.
type tracepoint struct {
	provider, name string
	group          string
	prog           func(*bpf.TracingObjects) *ebpf.Program
}

func (t tracepoint) String() string { return t.provider + ":" + t.name }

var tracepoints = []tracepoint{
	{"net", "inbound_message", GroupP2PMessages, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleNetInboundMessage }},
	{"net", "outbound_message", GroupP2PMessages, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleNetOutboundMessage }},
	{"net", "inbound_connection", GroupConnections, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleNetInboundConnection }},
	{"net", "outbound_connection", GroupConnections, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleNetOutboundConnection }},
	{"net", "closed_connection", GroupConnections, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleNetClosedConnection }},
	{"net", "evicted_inbound_connection", GroupConnections, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleNetEvictedInboundConnection }},
	{"net", "misbehaving_connection", GroupConnections, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleNetMisbehavingConnection }},
	{"mempool", "added", GroupMempool, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleMempoolAdded }},
	{"mempool", "removed", GroupMempool, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleMempoolRemoved }},
	{"mempool", "replaced", GroupMempool, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleMempoolReplaced }},
	{"mempool", "rejected", GroupMempool, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleMempoolRejected }},
	{"validation", "block_connected", GroupValidation, func(o *bpf.TracingObjects) *ebpf.Program { return o.HandleValidationBlockConnected }},
}

// Tracepoints lists the provider:name of every tracepoint of a group, in
// attach order.
func Tracepoints(group string) []string {
	var out []string
	for _, t := range tracepoints {
		if t.group == group {
			out = append(out, t.String())
		}
	}
	return out
}

// Options configures an Extractor.
type Options struct {
	// BinaryPath is the bitcoind executable whose USDT notes are read and
	// whose probes are attached. Required.
	BinaryPath string
	// PID is the bitcoind process to trace. When it exits, Run returns
	// ErrProcessExited: use PIDFile to follow restarts.
	PID int
	// PIDFile is the file bitcoind -pid= writes. Run waits until it names
	// a running bitcoind, attaches, and after the process exits waits for
	// the next one. Exactly one of PID and PIDFile is set.
	PIDFile string
	// Disable turns off tracepoint groups (GroupP2PMessages,
	// GroupConnections, GroupMempool, GroupValidation).
	Disable []string
	// Node names the node on every event (event.Event.Node).
	Node string
	// EventsRingSize and BigRingSize size the ring buffers in bytes (0:
	// bpf.DefaultEventsRingSize, bpf.DefaultBigRingSize; rounded up to a
	// power of two).
	EventsRingSize, BigRingSize int
	// WakeupBytes is how much data waits in a ring buffer before the
	// probes wake the extractor (0: DefaultWakeupBytes; negative: wake
	// for every record, lowest latency at the highest CPU cost). Batching
	// wakeups is what lets the extractor keep up with hundreds of
	// thousands of messages a second.
	WakeupBytes int
	// MaxDelay bounds how long a record waits in a quiet ring before the
	// extractor reads it anyway (default DefaultMaxDelay).
	MaxDelay time.Duration
	// Registerer receives the extractor's metrics (peertape_ebpf_*). Nil
	// keeps them private.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// PollInterval is how often the pid file is read while waiting for the
	// node, and how often losses are collected. Default 1s.
	PollInterval time.Duration
}

// Defaults for Options.WakeupBytes and Options.MaxDelay.
const (
	DefaultWakeupBytes = 64 << 10
	DefaultMaxDelay    = 100 * time.Millisecond
)

// ErrProcessExited is returned by Run when the process given by
// Options.PID exits.
var ErrProcessExited = errors.New("traced process exited")

// ErrNoTracepoints means the binary has USDT notes but none of the
// enabled tracepoints: not Bitcoin Core, or too old (v29 has them all).
var ErrNoTracepoints = errors.New("binary has none of the enabled tracepoints")

// Extractor is an event.Source reading Bitcoin Core's USDT tracepoints.
type Extractor struct {
	opts     Options
	log      *slog.Logger
	m        *metrics
	enabled  []tracepoint
	events   [numRecTypes]prometheus.Counter
	offsetNs atomic.Int64 // Unix ns minus boot-clock ns
	running  atomic.Bool
}

// New checks opts and registers the metrics. It does not touch the kernel.
func New(opts Options) (*Extractor, error) {
	if opts.BinaryPath == "" {
		return nil, errors.New("ebpf extractor: the bitcoind binary path is required")
	}
	if (opts.PID == 0) == (opts.PIDFile == "") {
		return nil, errors.New("ebpf extractor: set exactly one of a pid and a pid file")
	}
	if opts.PID < 0 {
		return nil, fmt.Errorf("ebpf extractor: pid %d is not a process id", opts.PID)
	}
	disabled := map[string]bool{}
	for _, g := range opts.Disable {
		switch g {
		case GroupP2PMessages, GroupConnections, GroupMempool, GroupValidation:
			disabled[g] = true
		default:
			return nil, fmt.Errorf("ebpf extractor: unknown tracepoint group %q", g)
		}
	}
	if _, _, err := (bpf.LoadOptions{EventsRingSize: opts.EventsRingSize, BigRingSize: opts.BigRingSize}).RingSizes(); err != nil {
		return nil, fmt.Errorf("ebpf extractor: %w", err)
	}
	x := &Extractor{opts: opts, log: opts.Logger}
	for _, t := range tracepoints {
		if !disabled[t.group] {
			x.enabled = append(x.enabled, t)
		}
	}
	if len(x.enabled) == 0 {
		return nil, errors.New("ebpf extractor: every tracepoint group is disabled")
	}
	if x.log == nil {
		x.log = slog.Default()
	}
	if x.opts.PollInterval <= 0 {
		x.opts.PollInterval = time.Second
	}
	if x.opts.WakeupBytes == 0 {
		x.opts.WakeupBytes = DefaultWakeupBytes
	}
	if x.opts.MaxDelay <= 0 {
		x.opts.MaxDelay = DefaultMaxDelay
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	x.m = newMetrics(reg)
	for i := range x.events {
		if i > 0 {
			x.events[i] = x.m.events.WithLabelValues(recTypeName(uint16(i)))
		}
	}
	return x, nil
}

// Run attaches to the node and delivers events to sink until ctx is
// cancelled (returning ctx.Err()), the sink fails or returns event.ErrStop,
// or, with Options.PID, the process exits (ErrProcessExited). A missing
// requirement comes back as a *bpf.MissingError; a binary without USDT
// notes wraps usdt.ErrNoProbes. Run may be called once at a time.
func (x *Extractor) Run(ctx context.Context, sink event.Sink) error {
	if !x.running.CompareAndSwap(false, true) {
		return errors.New("ebpf extractor: already running")
	}
	defer x.running.Store(false)

	if err := bpf.Requirements(); err != nil {
		return err
	}
	// Read the notes once up front so a wrong binary fails before any
	// waiting; they are read again at every attach (the binary may be
	// upgraded between restarts).
	if _, err := x.probes(); err != nil {
		return err
	}
	var wakeup uint64
	if x.opts.WakeupBytes > 0 {
		wakeup = uint64(x.opts.WakeupBytes)
	}
	objs, err := bpf.Load(bpf.LoadOptions{EventsRingSize: x.opts.EventsRingSize, BigRingSize: x.opts.BigRingSize, WakeupBytes: wakeup})
	if err != nil {
		return fmt.Errorf("ebpf extractor: %w", err)
	}
	defer objs.Close()
	x.m.ringSize.WithLabelValues("events").Set(float64(objs.Events.MaxEntries()))
	x.m.ringSize.WithLabelValues("big").Set(float64(objs.Big.MaxEntries()))

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	x.updateClock()

	d := &delivery{x: x, sink: sink, cancel: cancel}
	d.gaps, _ = sink.(event.GapSink)
	d.nodeInfo, _ = sink.(event.NodeInfoSink)
	var readers []*ringbuf.Reader
	for _, m := range []*ebpf.Map{objs.Events, objs.Big} {
		rd, err := ringbuf.NewReader(m)
		if err != nil {
			for _, r := range readers {
				r.Close()
			}
			return fmt.Errorf("ebpf extractor: open ring buffer: %w", err)
		}
		readers = append(readers, rd)
	}
	var wg sync.WaitGroup
	for _, rd := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.read(rd)
		}()
	}
	drops := newDropCounter(objs.Drops, x)
	stopTicker := make(chan struct{})
	var tickWG sync.WaitGroup
	tickWG.Add(1)
	go func() {
		defer tickWG.Done()
		t := time.NewTicker(x.opts.PollInterval)
		defer t.Stop()
		for {
			select {
			case <-stopTicker:
				return
			case <-t.C:
				x.updateClock()
				drops.collect(d)
				x.m.ringPending.WithLabelValues("events").Set(float64(readers[0].AvailableBytes()))
				x.m.ringPending.WithLabelValues("big").Set(float64(readers[1].AvailableBytes()))
			}
		}
	}()

	runErr := x.follow(ctx, objs, d)

	// Drain what the probes wrote before detaching, then stop.
	for _, rd := range readers {
		rd.Flush()
	}
	wg.Wait()
	close(stopTicker)
	tickWG.Wait()
	for _, rd := range readers {
		rd.Close()
	}
	drops.collect(d)

	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		runErr = cause // the sink failed
	}
	if errors.Is(runErr, event.ErrStop) {
		return nil
	}
	return runErr
}

// Check verifies what Run needs before it waits for anything: the
// privileges and kernel features (a *bpf.MissingError), a binary with the
// enabled tracepoints (wrapping usdt.ErrNoProbes or ErrNoTracepoints) and,
// with Options.PID, that the pid runs that binary. The notes are read
// again at every attach, as the binary may be upgraded between restarts.
func (x *Extractor) Check() error {
	if err := bpf.Requirements(); err != nil {
		return err
	}
	if _, err := x.probes(); err != nil {
		return err
	}
	if x.opts.PID != 0 {
		return x.checkProcess(x.opts.PID)
	}
	return nil
}

// follow attaches to the node process, waits for it to exit, and with a
// pid file starts over, until ctx ends.
func (x *Extractor) follow(ctx context.Context, objs *bpf.TracingObjects, d *delivery) error {
	var downSince time.Time
	for {
		pid, err := x.waitForNode(ctx)
		if err != nil {
			return err
		}
		links, err := x.attach(objs, pid)
		if errors.Is(err, errGone) {
			x.log.Info("node exited while attaching; waiting for it again", "pid", pid)
			if x.opts.PID != 0 {
				return fmt.Errorf("pid %d: %w", pid, ErrProcessExited)
			}
			continue
		}
		if err != nil {
			return err
		}
		if !downSince.IsZero() {
			d.gap(&pb.Gap{StartMs: downSince.UnixMilli(), EndMs: time.Now().UnixMilli(), Reason: "bitcoind not running (restart)"})
		}
		x.m.attached.Set(1)
		x.m.attaches.Inc()
		x.m.tracedPID.Set(float64(pid))
		x.m.probes.Set(float64(len(links)))
		d.sawVersion.Store(false)
		exited, err := waitExit(ctx, pid, x.opts.PollInterval)
		for _, l := range links {
			l.Close()
		}
		x.m.attached.Set(0)
		x.m.tracedPID.Set(0)
		x.m.probes.Set(0)
		if err != nil {
			return err
		}
		if !exited {
			return ctx.Err()
		}
		downSince = time.Now()
		if x.opts.PID != 0 {
			x.log.Warn("traced node exited; with --pid the extractor cannot follow a restart (use --pid-file)", "pid", pid)
			return fmt.Errorf("pid %d: %w", pid, ErrProcessExited)
		}
		x.log.Info("node exited; waiting for the pid file to name a new process", "pid", pid, "pid_file", x.opts.PIDFile)
	}
}

// probes reads the binary's USDT notes and returns the sites of each
// enabled tracepoint.
func (x *Extractor) probes() (map[string][]usdt.Probe, error) {
	f, err := usdt.Open(x.opts.BinaryPath)
	if err != nil {
		if errors.Is(err, usdt.ErrNoProbes) {
			return nil, fmt.Errorf("ebpf extractor: %w: build bitcoind with USDT support (release binaries have it; self-built: -DWITH_USDT=ON)", err)
		}
		return nil, fmt.Errorf("ebpf extractor: bitcoind binary: %w", err)
	}
	sites := map[string][]usdt.Probe{}
	var missing []string
	for _, t := range x.enabled {
		ps := f.Find(t.provider, t.name)
		if len(ps) == 0 {
			missing = append(missing, t.String())
			continue
		}
		sites[t.String()] = ps
	}
	if len(sites) == 0 {
		return nil, fmt.Errorf("ebpf extractor: %s: %w (missing %s)", x.opts.BinaryPath, ErrNoTracepoints, strings.Join(missing, ", "))
	}
	if len(missing) > 0 {
		x.log.Warn("bitcoind binary lacks some tracepoints (older Core?); they will not be traced",
			"binary", x.opts.BinaryPath, "missing", strings.Join(missing, ","))
	}
	return sites, nil
}

// errGone marks an attach that failed because the process exited.
var errGone = errors.New("process gone")

// attach writes the argument specs and opens one uprobe per probe site,
// limited to pid, with the semaphore reference counter so that the guarded
// tracepoints fire.
func (x *Extractor) attach(objs *bpf.TracingObjects, pid int) ([]link.Link, error) {
	sites, err := x.probes()
	if err != nil {
		return nil, err
	}
	ex, err := link.OpenExecutable(x.opts.BinaryPath)
	if err != nil {
		return nil, fmt.Errorf("ebpf extractor: %w", err)
	}
	var links []link.Link
	fail := func(err error) ([]link.Link, error) {
		for _, l := range links {
			l.Close()
		}
		return nil, err
	}
	var cookie uint32
	for _, t := range x.enabled {
		for _, p := range sites[t.String()] {
			if cookie >= bpf.MaxSpecs {
				return fail(fmt.Errorf("ebpf extractor: more than %d probe sites", bpf.MaxSpecs))
			}
			spec, err := bpf.ArgSpec(p, cookie)
			if err != nil {
				return fail(fmt.Errorf("ebpf extractor: %w", err))
			}
			if err := objs.UsdtSpecs.Put(cookie, &spec); err != nil {
				return fail(fmt.Errorf("ebpf extractor: store argument spec of %s: %w", p, err))
			}
			l, err := ex.Uprobe("usdt_"+p.Provider+"_"+p.Name, t.prog(objs), &link.UprobeOptions{
				Address: p.Offset, RefCtrOffset: p.SemaphoreOffset, PID: pid, Cookie: uint64(cookie)})
			if err != nil {
				if errors.Is(err, syscall.ESRCH) || !processAlive(pid) {
					return fail(errGone)
				}
				return fail(fmt.Errorf("ebpf extractor: attach %s at file offset %#x to pid %d: %w", p, p.Offset, pid, err))
			}
			links = append(links, l)
			cookie++
		}
	}
	x.log.Info("attached to bitcoind", "pid", pid, "binary", x.opts.BinaryPath, "probe_sites", len(links))
	return links, nil
}

// waitForNode returns the pid to trace: Options.PID after checking it, or
// the first pid the pid file names that runs the binary.
func (x *Extractor) waitForNode(ctx context.Context) (int, error) {
	if x.opts.PID != 0 {
		if err := x.checkProcess(x.opts.PID); err != nil {
			return 0, err
		}
		return x.opts.PID, nil
	}
	warned := map[string]bool{}
	t := time.NewTicker(x.opts.PollInterval)
	defer t.Stop()
	for {
		pid, err := readPIDFile(x.opts.PIDFile)
		if err == nil {
			err = x.checkProcess(pid)
			if err == nil {
				return pid, nil
			}
		}
		if msg := err.Error(); !warned[msg] {
			warned[msg] = true
			x.log.Info("waiting for bitcoind", "pid_file", x.opts.PIDFile, "reason", msg)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a process id", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// checkProcess fails unless pid is a running process executing the
// configured binary (compared by device and inode, so symlinks and other
// paths to the same file are fine).
func (x *Extractor) checkProcess(pid int) error {
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	pst, err := os.Stat(exe)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || !processAlive(pid) {
			return fmt.Errorf("no running process with pid %d", pid)
		}
		return fmt.Errorf("pid %d: cannot inspect its executable: %w", pid, err)
	}
	bst, err := os.Stat(x.opts.BinaryPath)
	if err != nil {
		return fmt.Errorf("bitcoind binary: %w", err)
	}
	if !os.SameFile(pst, bst) {
		target, _ := os.Readlink(exe)
		return fmt.Errorf("pid %d runs %s, not %s: wrong pid, or bitcoind was replaced since it started", pid, target, x.opts.BinaryPath)
	}
	return nil
}

func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// waitExit blocks until pid exits (true) or ctx ends (false). It uses a
// pidfd where the kernel has one (5.3+), else polls.
func waitExit(ctx context.Context, pid int, poll time.Duration) (bool, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return true, nil
		}
		t := time.NewTicker(poll)
		defer t.Stop()
		for processAlive(pid) {
			select {
			case <-ctx.Done():
				return false, nil
			case <-t.C:
			}
		}
		return true, nil
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return false, fmt.Errorf("pidfd: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		// The runtime poller waits for the pidfd to become readable,
		// which happens when the process exits.
		done <- rc.Read(func(fd uintptr) bool {
			n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
			return n > 0
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			return false, fmt.Errorf("wait for pid %d: %w", pid, err)
		}
		return true, nil
	case <-ctx.Done():
		f.Close() // unblocks the reader goroutine
		<-done
		return false, nil
	}
}

// updateClock refreshes the offset from the BPF boot clock to Unix time.
func (x *Extractor) updateClock() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return
	}
	now := time.Now().UnixNano()
	x.offsetNs.Store(now - ts.Nano())
}

func (x *Extractor) timeMs(bootNs uint64) uint64 {
	return uint64((int64(bootNs) + x.offsetNs.Load()) / 1e6)
}
