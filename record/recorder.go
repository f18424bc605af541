package record

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
)

// Defaults for Options.
const (
	DefaultMaxSegmentSize    = 256 << 20
	DefaultMaxSegmentAge     = time.Hour
	DefaultShutdownTimeout   = 7 * time.Second
	DefaultMinFree           = 64 << 20
	DefaultMalformedMaxBytes = 64 << 20
	// DefaultWindowSize is the zstd window while recording. The encoder
	// keeps twice the window in memory; 4 MiB instead of the format's
	// 8 MiB default saves about 8 MiB of resident memory for about 1%
	// larger live segments (measured on synthetic mainnet traffic), and
	// --compact recompresses with a 32 MiB window anyway.
	DefaultWindowSize = 4 << 20
)

// ErrDiskFull is wrapped by the error the recorder stops with when the free
// space in its directory fell below Options.MinFree.
var ErrDiskFull = errors.New("free disk space below the minimum")

// ErrClosed is returned by Consume after the recorder stopped taking events.
var ErrClosed = errors.New("recorder closed")

// Options configure a Recorder. Zero values select the defaults.
type Options struct {
	// Dir receives the segments (created if missing). Required.
	Dir string
	// Node names the node in segment names and metadata. Required.
	Node string
	// Source describes where events come from, for the metadata
	// (e.g. "nats nats://127.0.0.1:4222 *").
	Source string
	// Filter selects what is recorded; nil records everything.
	Filter *event.Filter
	// LowData strips raw transaction and block bytes (event.StripLowData)
	// and marks the segments low-data.
	LowData bool

	// MaxSegmentSize rotates once the active segment has this many
	// compressed bytes on disk; default 256 MiB.
	MaxSegmentSize int64
	// MaxSegmentAge rotates segments at multiples of this duration in UTC
	// (1h: on the hour); default 1h, negative disables.
	MaxSegmentAge time.Duration
	// RetainSize deletes the oldest finished segments while all segments
	// of the node (the active one included) take more than this; 0 keeps
	// everything.
	RetainSize int64
	// RetainAge deletes finished segments whose last event is older than
	// this (a segment ends where the next one starts); 0 keeps everything.
	RetainAge time.Duration

	// Writer settings, passed to format.Create. WindowSize defaults to
	// DefaultWindowSize.
	Level         int
	WindowSize    int
	FlushInterval time.Duration
	Fsync         format.FsyncPolicy
	FsyncInterval time.Duration
	FrameSize     int64
	FrameAge      time.Duration

	// MinFree stops the recorder cleanly (ErrDiskFull) when the file
	// system of Dir has less than this many bytes available, and keeps it
	// from starting; default 64 MiB, negative disables.
	MinFree int64

	// Compact, when set, is called in the background for each rotated
	// segment, one at a time, to recompress it (the command runs
	// `peertape compact` in a low-priority child process). ctx is
	// cancelled at Close; compaction must leave the file valid then.
	Compact func(ctx context.Context, path string) error
	// CompactLevel is the level Compact produces (default 19). Finished
	// segments below it that rotation never handed to Compact (finished
	// by a shutdown, recovered at start) are queued when New starts.
	CompactLevel int

	// ShutdownTimeout bounds how long Run waits for sources to hand over
	// buffered events once its context is cancelled; default 7s.
	ShutdownTimeout time.Duration
	// MalformedMaxBytes caps DIR/malformed.jsonl; default 64 MiB,
	// negative keeps nothing (payloads are only counted).
	MalformedMaxBytes int64

	// Recorder, Hostname, RunID and Labels go into the metadata. Hostname
	// and RunID default to os.Hostname and a random id.
	Recorder string
	Hostname string
	RunID    string
	Labels   map[string]string

	// Registerer receives the metrics; nil keeps them private.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock for rotation, retention and names; default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		return errors.New("record: no directory")
	}
	if o.Node == "" {
		return errors.New("record: no node name")
	}
	if o.MaxSegmentSize <= 0 {
		o.MaxSegmentSize = DefaultMaxSegmentSize
	}
	if o.MaxSegmentAge == 0 {
		o.MaxSegmentAge = DefaultMaxSegmentAge
	}
	if o.WindowSize == 0 {
		o.WindowSize = DefaultWindowSize
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = format.DefaultFlushInterval
	}
	if o.CompactLevel == 0 {
		o.CompactLevel = 19
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.MinFree == 0 {
		o.MinFree = DefaultMinFree
	}
	if o.MalformedMaxBytes == 0 {
		o.MalformedMaxBytes = DefaultMalformedMaxBytes
	}
	if o.Recorder == "" {
		o.Recorder = "peertape"
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	if o.RunID == "" {
		var b [8]byte
		rand.Read(b[:])
		o.RunID = hex.EncodeToString(b[:])
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Recorder writes events into rotating segments. Create it with New, feed
// it with Run (or Consume), and Close it.
type Recorder struct {
	o      Options
	log    *slog.Logger
	prefix string // node part of segment names
	lock   *dirLock
	m      *metrics

	mu       sync.Mutex // serializes the stream and guards the fields below
	w        *format.Writer
	seg      *segState
	seq      uint64 // sequence of the next segment
	previous string // name of the last finished segment
	info     event.NodeInfo
	closed   bool
	segStart time.Time
	rotateAt time.Time

	errMu     sync.Mutex
	err       error         // first fatal error
	fatal     chan struct{} // closed on the first fatal error
	fatalOnce sync.Once

	startWall int64        // ns
	lastEvent atomic.Int64 // wall ns of the last written event
	total     atomic.Uint64
	durable   atomic.Uint64 // events handed to the kernel (survive kill -9)
	synced    atomic.Uint64 // events fsynced (survive power loss)
	active    atomic.Int64  // compressed bytes of the active segment (refreshed per event)

	closer     chan *closing // finished segments waiting to be finalized
	closerDone chan struct{}
	compactQ   chan string
	compacting atomic.Pointer[string]
	compactCtx context.Context
	stopCompac context.CancelFunc
	compactWG  sync.WaitGroup
	retainKick chan struct{}
	stop       chan struct{}
	bgDone     chan struct{}

	mal *malformedFile

	closeOnce sync.Once
	closeErr  error

	// Recovered lists what New found and recovered in the directory.
	Recovered []RecoveredFile
}

// segState tracks one segment's events for the durability counters: the
// writer's hooks run under its own lock, so they read atomics only.
type segState struct {
	name     string
	base     uint64 // events written before this segment in this run
	appended atomic.Uint64
}

type closing struct {
	w   *format.Writer
	seg *segState
}

// New prepares a recorder on o.Dir: it takes the directory lock, removes
// temporaries of interrupted compactions, recovers leftover .partial
// segments and checks the free space. The first segment is opened by Run
// (or the first Consume), so a start that fails after New leaves no empty
// segment behind.
func New(o Options) (*Recorder, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	lock, err := lockDir(o.Dir, o.Now())
	if err != nil {
		return nil, err
	}
	r := &Recorder{
		o:          o,
		log:        o.Logger.With("component", "record", "dir", o.Dir),
		prefix:     nodePrefix(o.Node),
		lock:       lock,
		fatal:      make(chan struct{}),
		startWall:  time.Now().UnixNano(),
		closer:     make(chan *closing, 16),
		closerDone: make(chan struct{}),
		compactQ:   make(chan string, 1024),
		retainKick: make(chan struct{}, 1),
		stop:       make(chan struct{}),
		bgDone:     make(chan struct{}),
	}
	r.m = newMetrics(o.Registerer, r)
	ok := false
	defer func() {
		if !ok {
			lock.release()
		}
	}()

	cleanTemporaries(o.Dir, r.log)
	r.Recovered = recoverPartials(o.Dir, r.log)
	for _, rf := range r.Recovered {
		if rf.Err != nil {
			r.m.recovered.WithLabelValues("failed").Inc()
		} else {
			r.m.recovered.WithLabelValues("ok").Inc()
		}
	}
	segs, err := listSegments(o.Dir, r.prefix)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if n := len(segs); n > 0 {
		r.seq = segs[n-1].seq + 1
		r.previous = segs[n-1].name
	}
	if err := r.checkFree(); err != nil {
		return nil, err
	}
	r.mal = newMalformedFile(filepath.Join(o.Dir, "malformed.jsonl"), o.MalformedMaxBytes, r.log)
	r.compactCtx, r.stopCompac = context.WithCancel(context.Background())
	go r.closeLoop()
	if o.Compact != nil {
		r.compactWG.Add(1)
		go r.compactLoop()
	}
	go r.housekeeping()
	r.log.Info("recorder started", "node", o.Node, "source", o.Source, "next_segment", format.SegmentName(o.Node, o.Now(), r.seq), "filter", o.Filter.String(),
		"low_data", o.LowData, "max_segment_size", o.MaxSegmentSize, "max_segment_age", o.MaxSegmentAge,
		"retain_size", o.RetainSize, "retain_age", o.RetainAge, "flush_interval", o.FlushInterval, "fsync", o.Fsync.String(),
		"compact", o.Compact != nil, "run_id", o.RunID)
	ok = true
	return r, nil
}

// checkFree fails with ErrDiskFull when the directory's file system has
// less than MinFree available.
func (r *Recorder) checkFree() error {
	if r.o.MinFree < 0 {
		return nil
	}
	free, err := freeBytes(r.o.Dir)
	if err != nil {
		return err
	}
	if free < r.o.MinFree {
		return fmt.Errorf("%s: %w: %d bytes available, minimum %d (--min-free)", r.o.Dir, ErrDiskFull, free, r.o.MinFree)
	}
	return nil
}

// meta builds the metadata of the next segment.
func (r *Recorder) meta() *pb.SegmentMeta {
	m := &pb.SegmentMeta{
		Node:                  r.o.Node,
		Implementation:        r.info.Implementation,
		ImplementationVersion: r.info.Version,
		Network:               r.info.Network,
		Source:                r.o.Source,
		Recorder:              r.o.Recorder,
		LowData:               r.o.LowData,
		Hostname:              r.o.Hostname,
		Sequence:              r.seq,
		Previous:              r.previous,
		RunId:                 r.o.RunID,
		Labels:                r.o.Labels,
	}
	if !r.o.Filter.Empty() {
		m.Filter = &pb.Filter{Only: r.o.Filter.Only(), Exclude: r.o.Filter.Exclude()}
	}
	return m
}

// ensureSegment opens a segment if none is active; r.mu is held.
func (r *Recorder) ensureSegment() error {
	if r.w != nil || r.closed {
		return nil
	}
	if err := r.openSegment(); err != nil {
		return r.fail(err)
	}
	return nil
}

// openSegment starts the next segment; r.mu is held.
func (r *Recorder) openSegment() error {
	now := r.o.Now()
	name := format.SegmentName(r.o.Node, now, r.seq)
	seg := &segState{name: name, base: r.total.Load()}
	w, err := format.Create(filepath.Join(r.o.Dir, name), format.WriterOptions{
		Level:         r.o.Level,
		WindowSize:    r.o.WindowSize,
		FrameSize:     r.o.FrameSize,
		FrameAge:      r.o.FrameAge,
		FlushInterval: r.o.FlushInterval,
		Fsync:         r.o.Fsync,
		FsyncInterval: r.o.FsyncInterval,
		Meta:          r.meta(),
		Now:           r.o.Now,
		Logger:        r.o.Logger,
		Hooks: format.Hooks{
			Flushed: func() {
				r.m.flushed.Inc()
				r.markDurable(seg)
			},
			FrameClosed: func(*pb.FrameInfo) {
				r.m.framesClosed.Inc()
				r.markDurable(seg)
			},
			Fsynced: func(took time.Duration) {
				r.m.fsync.Observe(took.Seconds())
				if d := r.durable.Load(); d > r.synced.Load() {
					r.synced.Store(d)
				}
			},
		},
	})
	if err != nil {
		r.m.writeErrors.Inc()
		return fmt.Errorf("record: open segment: %w", err)
	}
	r.w, r.seg = w, seg
	r.seq++
	r.segStart = now
	r.rotateAt = time.Time{}
	if age := r.o.MaxSegmentAge; age > 0 {
		r.rotateAt = now.Truncate(age).Add(age)
	}
	r.active.Store(w.Stats().Bytes)
	return nil
}

// markDurable advances the durable count to everything appended to seg.
// Appends that finished their write but not yet their count are left out,
// so the count never claims too much.
func (r *Recorder) markDurable(seg *segState) {
	d := seg.base + seg.appended.Load()
	for {
		cur := r.durable.Load()
		if d <= cur || r.durable.CompareAndSwap(cur, d) {
			return
		}
	}
}

// fail records the first fatal error and wakes Run. It may be called with
// or without r.mu held.
func (r *Recorder) fail(err error) error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.err == nil {
		r.err = err
		r.log.Error("recorder stopping", "err", err)
	}
	r.fatalOnce.Do(func() { close(r.fatal) })
	return r.err
}

// Consume writes ev (event.Sink). It is safe for concurrent use; events
// from one goroutine keep their order.
func (r *Recorder) Consume(ev event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.Err(); err != nil {
		return err
	}
	if r.closed {
		return ErrClosed
	}
	if !r.o.Filter.Match(ev) {
		r.m.filtered.Inc()
		return nil
	}
	if err := r.ensureSegment(); err != nil {
		return err
	}
	if r.o.LowData {
		stripped, changed, err := event.StripLowData(ev)
		switch {
		case err != nil:
			r.m.lowDataErrors.Inc()
			r.log.Debug("low-data: event kept unchanged", "err", err)
		case changed:
			r.m.lowDataBytes.Add(float64(len(ev.Raw) - len(stripped.Raw)))
			ev = stripped
		}
	}
	if !r.rotateAt.IsZero() && !r.o.Now().Before(r.rotateAt) {
		if err := r.rotate("age"); err != nil {
			return err
		}
	}
	if err := r.w.Append(ev); err != nil {
		r.m.writeErrors.Inc()
		return r.fail(fmt.Errorf("record: %w", err))
	}
	r.seg.appended.Add(1)
	r.total.Add(1)
	r.lastEvent.Store(time.Now().UnixNano())
	k := int(ev.Kind)
	if k < len(r.m.events) {
		r.m.events[k].Inc()
		r.m.eventBytes[k].Add(float64(len(ev.Raw)))
	}
	size := r.w.Stats().Bytes
	r.active.Store(size)
	if size >= r.o.MaxSegmentSize {
		return r.rotate("size")
	}
	return nil
}

// rotate hands the active segment to the closer and opens the next; r.mu
// is held. Finalizing (last frame, index, fsync, rename) happens in the
// background so sources are not held up by an fsync.
func (r *Recorder) rotate(reason string) error {
	old, oldSeg := r.w, r.seg
	r.previous = oldSeg.name
	if err := r.openSegment(); err != nil {
		r.w, r.seg = old, oldSeg
		return r.fail(err)
	}
	r.m.rotated.Inc()
	r.log.Info("segment rotated", "reason", reason, "finished", oldSeg.name, "next", r.seg.name)
	r.closer <- &closing{w: old, seg: oldSeg}
	return nil
}

// closeLoop finalizes rotated segments in order, then queues them for
// compaction and retention.
func (r *Recorder) closeLoop() {
	defer close(r.closerDone)
	for c := range r.closer {
		r.finalize(c, true)
	}
}

// finalize closes one segment's writer.
func (r *Recorder) finalize(c *closing, rotated bool) error {
	stats := c.w.Stats()
	err := c.w.Close()
	r.markDurable(c.seg)
	if d := r.durable.Load(); d > r.synced.Load() {
		r.synced.Store(d)
	}
	if err != nil {
		r.m.writeErrors.Inc()
		r.fail(fmt.Errorf("record: finish segment %s: %w", c.seg.name, err))
		return err
	}
	path := c.w.Path()
	var size int64
	if st, err := os.Stat(path); err == nil {
		size = st.Size()
	}
	r.log.Info("segment finished", "path", path, "events", stats.Events, "bytes", size)
	if rotated {
		if r.o.Compact != nil {
			select {
			case r.compactQ <- path:
			default:
				r.m.compactions.WithLabelValues("skipped").Inc()
				r.log.Warn("compaction queue full; segment stays at the live level", "path", path)
			}
		}
		select {
		case r.retainKick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Gap records an outage reported by a source (event.GapSink).
func (r *Recorder) Gap(g *pb.Gap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m.gaps.Inc()
	r.m.gapDropped.Add(float64(g.Dropped))
	r.ensureSegment()
	if r.w == nil || r.closed {
		r.log.Warn("gap reported after the last segment was finished; not recorded", "reason", g.Reason,
			"start", time.UnixMilli(g.StartMs).UTC(), "end", time.UnixMilli(g.EndMs).UTC(), "dropped", g.Dropped)
		return
	}
	r.w.Gap(g)
	r.log.Warn("gap recorded", "segment", r.seg.name, "reason", g.Reason, "start", time.UnixMilli(g.StartMs).UTC(),
		"end", time.UnixMilli(g.EndMs).UTC(), "dropped", g.Dropped)
}

// NodeInfo records what a source learned about the node
// (event.NodeInfoSink); later segments start with it.
func (r *Recorder) NodeInfo(info event.NodeInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if info.Implementation != "" {
		r.info.Implementation = info.Implementation
	}
	if info.Version != "" {
		r.info.Version = info.Version
	}
	if info.Network != "" {
		r.info.Network = info.Network
	}
	if r.w != nil && !r.closed {
		r.w.NodeInfo(info)
	}
}

// Malformed keeps a payload that is not an event at all in the side file
// (see the package documentation) and counts it. It is the natsbus
// SubscriberOptions.OnMalformed callback.
func (r *Recorder) Malformed(subject string, data []byte) {
	if r.mal.add(subject, data, time.Now()) {
		r.m.malformed.WithLabelValues("true").Inc()
	} else {
		r.m.malformed.WithLabelValues("false").Inc()
	}
}

// Run feeds every source into the recorder until ctx is cancelled, a
// source fails, or the recorder hits a fatal error (disk full, write
// error). After ctx is cancelled the sources get ShutdownTimeout to hand
// over what they buffered; sources still running then are abandoned (their
// later events are refused). Run returns nil after a cancelled context,
// otherwise the first error. It does not finalize the active segment:
// Close does.
func (r *Recorder) Run(ctx context.Context, sources ...event.Source) error {
	if len(sources) == 0 {
		return errors.New("record: no sources")
	}
	r.mu.Lock()
	err := r.ensureSegment()
	r.mu.Unlock()
	if err != nil {
		return err
	}
	srcCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(sources))
	for _, s := range sources {
		go func(s event.Source) { errs <- s.Run(srcCtx, r) }(s)
	}
	var firstErr error
	var deadline <-chan time.Time
	startDeadline := func() {
		if deadline == nil {
			deadline = time.After(r.o.ShutdownTimeout)
		}
	}
	ctxDone, fatal := ctx.Done(), r.fatal
	for remaining := len(sources); remaining > 0; {
		select {
		case err := <-errs:
			remaining--
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, event.ErrStop) && !errors.Is(err, ErrClosed) && firstErr == nil {
				firstErr = err
				r.log.Error("source failed; stopping", "err", err)
				cancel()
				startDeadline()
			}
		case <-ctxDone:
			ctxDone = nil
			r.log.Info("shutting down: stopping sources", "timeout", r.o.ShutdownTimeout)
			startDeadline()
		case <-fatal:
			fatal = nil
			cancel()
			startDeadline()
		case <-deadline:
			r.log.Warn("sources did not stop in time; finalizing without them", "still_running", remaining)
			r.mu.Lock()
			r.closed = true
			r.mu.Unlock()
			remaining = 0
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	return firstErr
}

// Close stops taking events, finalizes the active segment (index, trailer,
// fsync, rename), waits for rotated segments to be finalized, stops a
// running compaction (which leaves its file as it was) and releases the
// directory. It returns the error of finalizing, if any; the fatal error
// that stopped Run (see Err) is not repeated.
func (r *Recorder) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		w, seg := r.w, r.seg
		r.w = nil
		r.mu.Unlock()
		close(r.stop)
		<-r.bgDone
		var err error
		if w != nil {
			err = r.finalize(&closing{w: w, seg: seg}, false)
		}
		close(r.closer)
		<-r.closerDone
		r.stopCompac()
		close(r.compactQ)
		r.compactWG.Wait()
		r.mal.close()
		r.lock.release()
		if err != nil {
			r.closeErr = err
		}
		r.log.Info("recorder stopped", "events", r.total.Load())
	})
	return r.closeErr
}

// Err returns the fatal error that stopped the recorder, if any.
func (r *Recorder) Err() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// housekeeping rotates idle segments by age, watches the free space and
// applies retention (every minute and after each rotation).
func (r *Recorder) housekeeping() {
	defer close(r.bgDone)
	tick := time.NewTicker(min(time.Second, max(r.o.FlushInterval, 10*time.Millisecond)))
	defer tick.Stop()
	lastRetention := time.Time{}
	r.applyRetention()
	for {
		select {
		case <-r.stop:
			return
		case <-r.retainKick:
			r.applyRetention()
			lastRetention = time.Now()
		case <-tick.C:
			r.mu.Lock()
			if !r.closed && r.Err() == nil && r.w != nil {
				if !r.rotateAt.IsZero() && !r.o.Now().Before(r.rotateAt) {
					r.rotate("age")
				}
				if err := r.checkFree(); err != nil {
					r.fail(err)
				}
			}
			r.mu.Unlock()
			if time.Since(lastRetention) >= time.Minute {
				r.applyRetention()
				lastRetention = time.Now()
			}
		}
	}
}

func (r *Recorder) lastEventWall() time.Time {
	if t := r.lastEvent.Load(); t != 0 {
		return time.Unix(0, t)
	}
	return time.Unix(0, r.startWall)
}

func (r *Recorder) activeBytes() int64 { return r.active.Load() }

// Stats is a snapshot of what the recorder has done.
type Stats struct {
	Events        uint64    // written since start
	Durable       uint64    // of those, flushed to the kernel (survive a crash of the process)
	Synced        uint64    // of those, fsynced (survive a power loss)
	Segment       string    // name of the active segment
	SegmentBytes  int64     // its compressed size so far
	SegmentEvents uint64    // events in it
	LastEvent     time.Time // wall clock of the last written event; zero if none
}

// Stats returns a snapshot; it is cheap and safe to call at any time.
func (r *Recorder) Stats() Stats {
	s := Stats{Events: r.total.Load(), Durable: r.durable.Load(), Synced: r.synced.Load(), SegmentBytes: r.active.Load()}
	if t := r.lastEvent.Load(); t != 0 {
		s.LastEvent = time.Unix(0, t)
	}
	r.mu.Lock()
	if r.seg != nil {
		s.Segment = r.seg.name
		s.SegmentEvents = r.seg.appended.Load()
	}
	r.mu.Unlock()
	return s
}

// Meta returns the metadata of the active segment (nil once closed).
func (r *Recorder) Meta() *pb.SegmentMeta {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return nil
	}
	return proto.Clone(r.w.Meta()).(*pb.SegmentMeta)
}
