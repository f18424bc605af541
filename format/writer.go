package format

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// firstFrameSize bounds frame 0, which opens with the ArchiveHeader and so
// can never be copied verbatim into another segment (Writer.CopyFrame):
// keeping it small lets editing tools copy nearly all of a segment.
const firstFrameSize = 1 << 20

// FormatVersion is the segment format version this package writes.
const FormatVersion = 1

// Defaults for WriterOptions.
const (
	DefaultLevel         = 3
	DefaultFrameSize     = 16 << 20
	DefaultFrameAge      = 10 * time.Minute
	DefaultFlushInterval = time.Second
	DefaultFsyncInterval = 10 * time.Second
	PartialSuffix        = ".partial"
)

// FsyncPolicy says when the writer forces data to stable storage. Flushing
// (handing complete zstd blocks to the kernel) is separate and governed by
// the flush interval: a killed process loses at most one flush interval; a
// power loss loses what was not yet fsynced.
type FsyncPolicy int

// Fsync policies.
const (
	// FsyncInterval fsyncs at most every FsyncInterval, after a flush.
	FsyncInterval FsyncPolicy = iota
	// FsyncAlways fsyncs after every flush and every closed frame.
	FsyncAlways
	// FsyncSegment fsyncs only when the segment is closed.
	FsyncSegment
)

// ParseFsyncPolicy parses "interval", "always" or "segment".
func ParseFsyncPolicy(s string) (FsyncPolicy, error) {
	switch s {
	case "interval", "":
		return FsyncInterval, nil
	case "always":
		return FsyncAlways, nil
	case "segment":
		return FsyncSegment, nil
	}
	return 0, fmt.Errorf("fsync policy %q: want always, interval or segment", s)
}

func (p FsyncPolicy) String() string {
	return [...]string{"interval", "always", "segment"}[p]
}

// WriterOptions configure a Writer. Zero values select the defaults.
type WriterOptions struct {
	// Level is a zstd compression level, 1..22, mapped onto the encoder's
	// four speeds (1-2 fastest, 3-5 default, 6-9 better, 10+ best).
	Level int
	// WindowSize is the zstd window (a power of two); 0 picks one by level.
	WindowSize int
	// FrameSize closes a data frame once it holds this many raw bytes.
	FrameSize int64
	// FrameAge closes a data frame once it has been open this long.
	FrameAge time.Duration
	// FlushInterval flushes the open frame this often while events arrive;
	// negative disables timed flushes (Flush can still be called).
	FlushInterval time.Duration
	// EventTimeFlush, when positive, flushes whenever event time has
	// advanced this much since the last flush. Tools that write archives
	// offline (synth, import) use it to produce files shaped exactly like a
	// live recording with that flush interval: same blocks, same ratio.
	EventTimeFlush time.Duration
	Fsync          FsyncPolicy
	// FsyncInterval is the period of FsyncInterval; default 10s.
	FsyncInterval time.Duration
	// Meta describes the segment. FormatVersion, CreatedMs and
	// CompressionLevel are filled in when zero. The writer keeps a copy.
	Meta *pb.SegmentMeta
	// Hooks observe the writer, for metrics. They run with the writer's
	// lock held and must be quick.
	Hooks Hooks
	// Now is the clock for frame ages and timestamps; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Hooks are optional callbacks a recorder uses for its metrics.
type Hooks struct {
	Flushed     func()                   // the open frame was flushed
	Fsynced     func(took time.Duration) // an fsync completed
	FrameClosed func(*pb.FrameInfo)
}

func (o *WriterOptions) setDefaults() {
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
	if o.FrameSize <= 0 {
		o.FrameSize = DefaultFrameSize
	}
	if o.FrameAge == 0 {
		o.FrameAge = DefaultFrameAge
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = DefaultFsyncInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Meta == nil {
		o.Meta = &pb.SegmentMeta{}
	} else {
		o.Meta = proto.Clone(o.Meta).(*pb.SegmentMeta)
	}
	if o.Meta.FormatVersion == 0 {
		o.Meta.FormatVersion = FormatVersion
	}
	if o.Meta.CreatedMs == 0 {
		o.Meta.CreatedMs = o.Now().UnixMilli()
	}
	if o.Meta.CompressionLevel == 0 {
		o.Meta.CompressionLevel = int32(o.Level)
	}
}

// Writer appends events to a new segment file. It is safe for concurrent
// use; a background goroutine flushes the open frame every FlushInterval.
//
// The file is written as PATH.partial and becomes PATH on Close. Once a
// write fails the Writer keeps returning that error; Close then still tries
// to leave a valid segment holding everything up to the last complete
// frame, and otherwise leaves the .partial for Recover.
type Writer struct {
	mu   sync.Mutex
	o    WriterOptions
	path string
	f    *os.File
	cw   countingWriter
	enc  *zstd.Encoder

	idx         *indexBuilder
	lastFlushEv int64 // event time of the last EventTimeFlush
	headerLen   int
	frameOpen   bool
	frameStart  int64     // file offset of the open frame
	frameRaw    int64     // raw bytes in the open frame
	frameOpened time.Time // when the open frame was started
	dirty       bool      // written since the last flush
	unsynced    bool      // flushed since the last fsync
	lastSync    time.Time
	goodEnd     int64 // file offset after the last complete frame or note
	pending     []*pb.Note
	gaps        []*pb.Gap
	recovery    *pb.Recovery
	err         error
	closed      bool
	scratch     []byte

	stop chan struct{}
	done chan struct{}
}

// countingWriter tracks the file offset and keeps the first write error.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}

// Create starts a new segment at path (written as path+".partial"). It
// fails if either file exists.
func Create(path string, o WriterOptions) (*Writer, error) {
	o.setDefaults()
	if strings.HasSuffix(path, PartialSuffix) {
		return nil, fmt.Errorf("create segment %s: name must not end in %s", path, PartialSuffix)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("create segment %s: file exists", path)
	}
	level := zstd.EncoderLevelFromZstd(o.Level)
	encOpts := []zstd.EOption{
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(true),
		zstd.WithLowerEncoderMem(false),
	}
	if o.WindowSize > 0 {
		encOpts = append(encOpts, zstd.WithWindowSize(o.WindowSize))
	}
	enc, err := zstd.NewWriter(nil, encOpts...)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", path, err)
	}
	f, err := os.OpenFile(path+PartialSuffix, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	w := &Writer{
		o:        o,
		path:     path,
		f:        f,
		enc:      enc,
		idx:      newIndexBuilder(),
		lastSync: o.Now(),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	w.cw.w = f
	if err := w.start(); err != nil {
		f.Close()
		os.Remove(path + PartialSuffix)
		return nil, err
	}
	if o.FlushInterval > 0 {
		go w.flusher()
	} else {
		close(w.done)
	}
	return w, nil
}

// start writes the meta frame and opens frame 0 with the ArchiveHeader.
func (w *Writer) start() error {
	buf, err := appendSkippable(nil, tagMeta, w.o.Meta)
	if err != nil {
		return err
	}
	if _, err := w.cw.Write(buf); err != nil {
		return w.fail(fmt.Errorf("write meta: %w", err))
	}
	w.goodEnd = w.cw.n
	w.openFrame()
	rec := headerRecord(w.o.Meta)
	w.headerLen = len(rec)
	if err := w.writeRaw(rec); err != nil {
		return err
	}
	// Like upstream: a fresh file already decodes to its header.
	return w.flushLocked()
}

func (w *Writer) openFrame() {
	w.enc.Reset(&w.cw)
	w.frameOpen = true
	w.frameStart = w.cw.n
	w.frameRaw = 0
	w.frameOpened = w.o.Now()
}

func (w *Writer) writeRaw(b []byte) error {
	if _, err := w.enc.Write(b); err != nil {
		return w.fail(fmt.Errorf("compress: %w", err))
	}
	w.frameRaw += int64(len(b))
	w.dirty = true
	return nil
}

// fail records the first error; the writer refuses further events.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = fmt.Errorf("segment %s: %w", w.path+PartialSuffix, err)
		w.o.Logger.Error("segment write failed", "path", w.path+PartialSuffix, "err", err)
	}
	return w.err
}

// Path returns the final path of the segment (without .partial).
func (w *Writer) Path() string { return w.path }

// Consume appends ev (event.Sink).
func (w *Writer) Consume(ev event.Event) error { return w.Append(ev) }

// Append writes one event record.
func (w *Writer) Append(ev event.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("segment %s: append after close", w.path)
	}
	if w.err != nil {
		return w.err
	}
	if !w.frameOpen {
		w.openFrame()
	}
	if et := w.o.EventTimeFlush.Milliseconds(); et > 0 {
		if w.lastFlushEv == 0 {
			w.lastFlushEv = ev.Time
		} else if ev.Time-w.lastFlushEv >= et {
			if err := w.flushLocked(); err != nil {
				return err
			}
			w.lastFlushEv = ev.Time
		}
	}
	w.scratch = protowire.AppendVarint(w.scratch[:0], uint64(len(ev.Raw)))
	if err := w.writeRaw(w.scratch); err != nil {
		return err
	}
	if err := w.writeRaw(ev.Raw); err != nil {
		return err
	}
	w.idx.add(&ev)
	if w.frameRaw >= w.o.FrameSize || (len(w.idx.frames) == 0 && w.frameRaw >= firstFrameSize) {
		return w.closeFrame()
	}
	if w.o.FlushInterval < 0 && w.o.FrameAge > 0 && w.idx.frame.n%1024 == 0 && w.o.Now().Sub(w.frameOpened) >= w.o.FrameAge {
		return w.closeFrame()
	}
	return nil
}

// Flush hands the open frame's complete blocks to the file and applies the
// fsync policy.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err := w.flushLocked(); err != nil {
		return err
	}
	return w.maybeSync(false)
}

func (w *Writer) flushLocked() error {
	if !w.frameOpen || !w.dirty {
		return nil
	}
	if err := w.enc.Flush(); err != nil {
		return w.fail(fmt.Errorf("flush: %w", err))
	}
	w.dirty = false
	w.unsynced = true
	if w.o.Hooks.Flushed != nil {
		w.o.Hooks.Flushed()
	}
	return nil
}

// maybeSync fsyncs according to the policy; force is used at segment close.
func (w *Writer) maybeSync(force bool) error {
	if !w.unsynced && !force {
		return nil
	}
	switch {
	case force, w.o.Fsync == FsyncAlways:
	case w.o.Fsync == FsyncInterval && w.o.Now().Sub(w.lastSync) >= w.o.FsyncInterval:
	default:
		return nil
	}
	start := time.Now()
	if err := w.f.Sync(); err != nil {
		return w.fail(fmt.Errorf("fsync: %w", err))
	}
	w.unsynced = false
	w.lastSync = w.o.Now()
	if w.o.Hooks.Fsynced != nil {
		w.o.Hooks.Fsynced(time.Since(start))
	}
	return nil
}

// closeFrame ends the open frame and writes pending notes after it.
func (w *Writer) closeFrame() error {
	if !w.frameOpen {
		return nil
	}
	if err := w.enc.Close(); err != nil {
		return w.fail(fmt.Errorf("close frame: %w", err))
	}
	w.frameOpen = false
	w.dirty = false
	w.unsynced = true
	fi := w.idx.closeFrame(w.frameStart, w.cw.n-w.frameStart, w.frameRaw)
	w.goodEnd = w.cw.n
	if w.o.Hooks.FrameClosed != nil {
		w.o.Hooks.FrameClosed(fi)
	}
	if err := w.writeNotes(); err != nil {
		return err
	}
	return w.maybeSync(false)
}

func (w *Writer) writeNotes() error {
	if len(w.pending) == 0 {
		return nil
	}
	var buf []byte
	for _, n := range w.pending {
		var err error
		if buf, err = appendSkippable(buf, tagNote, n); err != nil {
			return err
		}
	}
	w.pending = nil
	if _, err := w.cw.Write(buf); err != nil {
		return w.fail(fmt.Errorf("write note: %w", err))
	}
	w.goodEnd = w.cw.n
	return nil
}

// Gap records a stretch without events (event.GapSink). It goes into the
// index and, at the next frame boundary, into a note that survives a crash.
func (w *Writer) Gap(g *pb.Gap) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g = proto.Clone(g).(*pb.Gap)
	w.gaps = append(w.gaps, g)
	w.pending = append(w.pending, &pb.Note{Note: &pb.Note_Gap{Gap: g}})
}

// NodeInfo records what a source learned about the node
// (event.NodeInfoSink): it updates the segment metadata.
func (w *Writer) NodeInfo(info event.NodeInfo) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.o.Meta
	changed := false
	set := func(dst *string, v string) {
		if v != "" && *dst != v {
			*dst, changed = v, true
		}
	}
	set(&m.Implementation, info.Implementation)
	set(&m.ImplementationVersion, info.Version)
	set(&m.Network, info.Network)
	if changed {
		w.pending = append(w.pending, &pb.Note{Note: &pb.Note_Meta{Meta: proto.Clone(m).(*pb.SegmentMeta)}})
	}
}

// Stats reports what has been written so far.
type Stats struct {
	Events       uint64
	Frames       int   // closed frames
	Bytes        int64 // file size so far
	RawBytes     int64 // decompressed bytes so far
	FirstTimeMs  int64
	LastTimeMs   int64
	OpenFrameRaw int64
	OpenedAt     time.Time
}

// Stats returns counters about the segment being written.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Stats{
		Events:       w.idx.events(),
		Frames:       len(w.idx.frames),
		Bytes:        w.cw.n,
		RawBytes:     int64(w.idx.rawBytes) + w.frameRaw,
		FirstTimeMs:  w.idx.firstTime(),
		LastTimeMs:   w.idx.lastTime(),
		OpenFrameRaw: w.frameRaw,
		OpenedAt:     time.UnixMilli(w.o.Meta.CreatedMs),
	}
}

// Meta returns a copy of the segment's current metadata.
func (w *Writer) Meta() *pb.SegmentMeta {
	w.mu.Lock()
	defer w.mu.Unlock()
	return proto.Clone(w.o.Meta).(*pb.SegmentMeta)
}

func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTicker(w.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.tick()
		}
	}
}

func (w *Writer) tick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || w.closed {
		return
	}
	if w.frameOpen && w.o.FrameAge > 0 && w.idx.frame.n > 0 && w.o.Now().Sub(w.frameOpened) >= w.o.FrameAge {
		w.closeFrame()
		return
	}
	if w.flushLocked() == nil {
		w.maybeSync(false)
	}
}

// Close finishes the segment: closes the open frame, writes the index and
// trailer, fsyncs, renames PATH.partial to PATH and fsyncs the directory.
// After a write error it truncates the file to the last complete frame and
// tries again, so the segment keeps every record up to there; if that
// fails too, the .partial file stays for Recover and the error says so.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.enc.Close()

	err := w.finish()
	if err != nil && w.err != nil {
		// Drop the damaged tail and retry with what is complete.
		lost := w.idx.frame.n
		w.o.Logger.Warn("finalizing segment without its unfinished frame", "path", w.path+PartialSuffix, "events_lost", lost, "cause", w.err)
		if terr := w.f.Truncate(w.goodEnd); terr == nil {
			if _, serr := w.f.Seek(w.goodEnd, io.SeekStart); serr == nil {
				w.cw = countingWriter{w: w.f, n: w.goodEnd}
				w.frameOpen = false
				w.idx.dropOpenFrame()
				err2 := error(nil)
				if len(w.idx.frames) == 0 {
					// Frame 0 went too: write its ArchiveHeader again, so
					// the segment is still a peer-observer archive.
					w.openFrame()
					if err2 = w.writeRaw(headerRecord(w.o.Meta)); err2 == nil {
						err2 = w.closeFrame()
					}
				}
				if err2 == nil {
					err2 = w.finishIndex()
				}
				if err2 == nil {
					return fmt.Errorf("%w (segment finalized without the last %d events)", w.err, lost)
				}
			}
		}
		w.f.Close()
		return fmt.Errorf("%w; left %s for recovery", w.err, w.path+PartialSuffix)
	}
	return err
}

func (w *Writer) finish() error {
	if w.err != nil {
		return w.err
	}
	if w.frameOpen {
		if err := w.closeFrame(); err != nil {
			return err
		}
	}
	return w.finishIndex()
}

// finishIndex writes notes, index and trailer, syncs and renames.
func (w *Writer) finishIndex() error {
	if err := w.writeNotes(); err != nil {
		return err
	}
	idx := w.idx.finish(w.o.Meta, w.headerLen)
	idx.Gaps = w.gaps
	idx.Recovery = w.recovery
	buf, err := appendSkippable(nil, tagIndex, idx)
	if err != nil {
		return w.fail(err)
	}
	off := w.cw.n
	buf = appendTrailer(buf, off, len(buf))
	if _, err := w.cw.Write(buf); err != nil {
		return w.fail(fmt.Errorf("write index: %w", err))
	}
	if err := w.maybeSync(true); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return w.fail(fmt.Errorf("close: %w", err))
	}
	if err := os.Rename(w.path+PartialSuffix, w.path); err != nil {
		return w.fail(fmt.Errorf("rename: %w", err))
	}
	return syncDir(filepath.Dir(w.path))
}

// syncDir makes a rename durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// headerRecord returns the length-delimited ArchiveHeader that opens frame
// 0 of a segment with meta, so `zstd -dc` output is a peer-observer archive.
func headerRecord(meta *pb.SegmentMeta) []byte {
	hdr := &pb.ArchiveHeader{Created: proto.Uint64(uint64(meta.GetCreatedMs() / 1000))}
	if meta.GetLowData() {
		hdr.LowData = proto.Bool(true)
	}
	hb, _ := proto.Marshal(hdr)
	return append(protowire.AppendVarint(nil, uint64(len(hb))), hb...)
}

// setRecovery marks the index as rebuilt by Recover.
func (w *Writer) setRecovery(rec *pb.Recovery) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recovery = rec
}
