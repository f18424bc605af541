// Package log is peertape's log extractor: it reads a Bitcoin node's
// debug.log lines (following the file like tail -F, from a FIFO, or from
// any reader such as stdin), parses Core's line grammar, runs a table of
// matchers and emits one peer-observer log event per line. A line is
// never dropped for not parsing: it becomes an UnknownLogMessage with its
// whole text.
package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// Defaults for Options.
const (
	DefaultPollInterval = 100 * time.Millisecond
	DefaultMaxLineBytes = 64 << 10
	// DefaultStreamBuffer is how many lines a FIFO or reader source holds
	// while the sink is slow, before it drops lines instead of blocking
	// the node that writes the pipe.
	DefaultStreamBuffer = 1 << 16
)

// Options configures an Extractor. Exactly one of File, FIFO and Reader
// is set.
type Options struct {
	// File is a debug.log followed like tail -F: rotation (rename and a new
	// file) and truncation are noticed, and a missing file is waited for.
	File string
	// FromStart reads File from its beginning instead of from its end.
	FromStart bool
	// FIFO is a named pipe bitcoind's output is written to (for example by
	// "bitcoind -printtoconsole > fifo"). It is opened read-write so the
	// extractor never sees end-of-file when the writer restarts.
	FIFO string
	// Reader is any other line source (stdin); Run returns nil at its EOF.
	Reader io.Reader
	// PollInterval is how often File is checked for new data, rotation
	// and truncation (default 100ms).
	PollInterval time.Duration
	// MaxLineBytes caps a line (default 64 KiB); a longer line is cut, kept
	// and counted.
	MaxLineBytes int
	// StreamBuffer bounds the lines a FIFO or Reader source buffers ahead
	// of a slow sink (default 65536); beyond it lines are dropped, counted
	// and logged rather than stalling the writer (bitcoind blocks on a
	// full pipe). A File source never drops: the file is its buffer.
	StreamBuffer int
	// LineTime stamps events with the line's own time instead of the wall
	// clock, for importing old logs (peer-observer stamps with the wall
	// clock; so does the default).
	LineTime bool
	// Node names the node on every event.
	Node string
	// Registerer receives the peertape_log_* metrics. Nil keeps them private.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the wall clock for event timestamps (default time.Now).
	Now func() time.Time
}

// Extractor is an event.Source of debug.log lines. It calls the sink from
// one goroutine.
type Extractor struct {
	opts Options
	log  *slog.Logger
	m    *metrics

	// opened, when set (by tests), is called after each open of the
	// followed file or FIFO, so a test can append only once the follower
	// knows where the end was.
	opened func()
	// missing, when set (by tests), is called when the followed file is
	// found missing at start.
	missing func()
}

// New checks o and returns an extractor.
func New(o Options) (*Extractor, error) {
	n := 0
	for _, set := range []bool{o.File != "", o.FIFO != "", o.Reader != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("log extractor: give exactly one of a file, a FIFO and a reader")
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.StreamBuffer <= 0 {
		o.StreamBuffer = DefaultStreamBuffer
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Extractor{opts: o, log: o.Logger.With("extractor", "log"), m: newMetrics(o.Registerer)}, nil
}

// Run reads lines until ctx is cancelled (returning its error), a Reader
// source ends (nil), or the sink fails (its error; event.ErrStop: nil).
func (x *Extractor) Run(ctx context.Context, sink event.Sink) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	handle := func(line []byte) error {
		ev, err := x.Event(line)
		if err != nil {
			return err
		}
		if err := sink.Consume(ev); err != nil {
			return err
		}
		return nil
	}
	var err error
	switch {
	case x.opts.File != "":
		x.log.Info("following log file", "file", x.opts.File, "from_start", x.opts.FromStart)
		f := &follower{x: x, path: x.opts.File, fromStart: x.opts.FromStart}
		err = f.run(ctx, handle)
	case x.opts.FIFO != "":
		x.log.Info("reading log FIFO", "fifo", x.opts.FIFO)
		err = x.runFIFO(ctx, handle)
	default:
		err = x.runStream(ctx, x.opts.Reader, nil, handle)
	}
	if errors.Is(err, event.ErrStop) {
		return nil
	}
	return err
}

// Event turns one line into an event stamped now (or with the line's
// time under Options.LineTime).
func (x *Extractor) Event(line []byte) (event.Event, error) {
	x.m.lines.Inc()
	x.m.bytes.Add(float64(len(line)))
	l := ParseLine(string(line))
	msg, kind := ToLog(l)
	x.m.events.WithLabelValues(kind).Inc()
	ms := x.opts.Now().UnixMilli()
	if x.opts.LineTime && l.Micros > 0 {
		ms = int64(l.Micros / 1000)
	}
	ev, err := event.New(&pb.Event{
		Timestamp:         proto.Uint64(uint64(ms)),
		PeerObserverEvent: &pb.Event_LogExtractor{LogExtractor: msg},
	})
	if err != nil {
		return event.Event{}, fmt.Errorf("log extractor: encode line %.80q: %w", line, err)
	}
	ev.Node = x.opts.Node
	return ev, nil
}

// lineSplitter cuts a byte stream into lines, capping their length.
type lineSplitter struct {
	max     int
	partial []byte
	cut     bool // the current line exceeded max; skip to its newline
	skip    bool // discard up to the next newline without emitting
	onCut   func()
}

// feed appends data and calls emit for every complete line.
func (s *lineSplitter) feed(data []byte, emit func([]byte) error) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		chunk := data
		if i >= 0 {
			chunk = data[:i]
		}
		if !s.cut && !s.skip {
			room := s.max - len(s.partial)
			if len(chunk) > room {
				s.partial = append(s.partial, chunk[:room]...)
				s.cut = true
				s.onCut()
			} else {
				s.partial = append(s.partial, chunk...)
			}
		}
		if i < 0 {
			return nil
		}
		data = data[i+1:]
		if s.skip {
			s.skip = false
			continue
		}
		line := bytes.TrimSuffix(s.partial, []byte{'\r'})
		s.partial, s.cut = s.partial[:0], false
		if err := emit(line); err != nil {
			return err
		}
	}
	return nil
}

// flush emits a last line that had no newline (at EOF or rotation).
func (s *lineSplitter) flush(emit func([]byte) error) error {
	if s.skip || (len(s.partial) == 0 && !s.cut) {
		s.reset()
		return nil
	}
	line := s.partial
	s.partial, s.cut = s.partial[:0], false
	return emit(line)
}

func (s *lineSplitter) reset() { s.partial, s.cut, s.skip = s.partial[:0], false, false }

// runFIFO opens the pipe read-write: opening does not wait for a writer,
// and a writer that exits (bitcoind restarting) does not end the stream.
func (x *Extractor) runFIFO(ctx context.Context, handle func([]byte) error) error {
	fi, err := os.Stat(x.opts.FIFO)
	if err != nil {
		return fmt.Errorf("log extractor: %w", err)
	}
	if fi.Mode()&os.ModeNamedPipe == 0 {
		return fmt.Errorf("log extractor: %s is not a FIFO (use --log-file for a regular file)", x.opts.FIFO)
	}
	f, err := os.OpenFile(x.opts.FIFO, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("log extractor: open FIFO: %w", err)
	}
	if x.opened != nil {
		x.opened()
	}
	return x.runStream(ctx, f, f, handle)
}

// runStream reads r in a goroutine into a bounded queue, so a slow sink
// never blocks the writer of a pipe; lines beyond the queue are dropped
// and counted. closer, when set, is closed to unblock the reader at the
// end; a reader that cannot be unblocked (stdin) is left behind.
func (x *Extractor) runStream(ctx context.Context, r io.Reader, closer io.Closer, handle func([]byte) error) error {
	lines := make(chan []byte, x.opts.StreamBuffer)
	readErr := make(chan error, 1)
	var dropped uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		split := &lineSplitter{max: x.opts.MaxLineBytes, onCut: x.m.truncated.Inc}
		buf := make([]byte, 64<<10)
		emit := func(line []byte) error {
			select {
			case lines <- bytes.Clone(line):
			default:
				dropped++
				x.m.dropped.Inc()
				if dropped&(dropped-1) == 0 { // log at 1, 2, 4, 8, ... drops
					x.log.Warn("sink too slow: dropping log lines rather than blocking the writer", "dropped_total", dropped)
				}
			}
			return nil
		}
		for {
			n, err := r.Read(buf)
			if n > 0 {
				split.feed(buf[:n], emit)
			}
			if err != nil {
				split.flush(emit)
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readErr <- err
				close(lines)
				return
			}
		}
	}()
	defer func() {
		if closer != nil {
			closer.Close()
			wg.Wait()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line, ok := <-lines:
			if !ok {
				if err := <-readErr; err != nil && ctx.Err() == nil {
					return fmt.Errorf("log extractor: read: %w", err)
				}
				return ctx.Err()
			}
			if err := handle(line); err != nil {
				return err
			}
		}
	}
}

// follower follows a file by name like tail -F.
type follower struct {
	x         *Extractor
	path      string
	fromStart bool

	f      *os.File
	fi     os.FileInfo
	offset int64
	split  lineSplitter
	warned bool
	waited bool // the file was missing at start: read it whole when it appears
}

func (fw *follower) run(ctx context.Context, handle func([]byte) error) error {
	x := fw.x
	fw.split = lineSplitter{max: x.opts.MaxLineBytes, onCut: x.m.truncated.Inc}
	defer func() {
		if fw.f != nil {
			fw.f.Close()
		}
	}()
	tick := time.NewTicker(x.opts.PollInterval)
	defer tick.Stop()
	first := true
	buf := make([]byte, 256<<10)
	for {
		if fw.f == nil {
			if err := fw.open(first && !fw.waited); err != nil {
				if !errors.Is(err, os.ErrNotExist) {
					return err
				}
				fw.waited = true
				if !fw.warned {
					x.log.Warn("log file does not exist yet; waiting for it", "file", fw.path)
					fw.warned = true
					if x.missing != nil {
						x.missing()
					}
				}
			} else {
				first = false
			}
		}
		if fw.f != nil {
			// Read everything there is.
			for {
				n, err := fw.f.Read(buf)
				if n > 0 {
					fw.offset += int64(n)
					if err := fw.split.feed(buf[:n], handle); err != nil {
						return err
					}
				}
				if err != nil {
					if !errors.Is(err, io.EOF) {
						return fmt.Errorf("log extractor: read %s: %w", fw.path, err)
					}
					break
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
			if err := fw.checkRotation(handle); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// open opens the path. Only the file found at start honours FromStart;
// a file that appears later (rotated in, or created after the extractor
// started) is read from its beginning, as tail -F does.
func (fw *follower) open(first bool) error {
	f, err := os.Open(fw.path)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log extractor: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("log extractor: %s is not a regular file (use --log-fifo for a pipe)", fw.path)
	}
	fw.f, fw.fi, fw.offset = f, fi, 0
	fw.split.reset()
	if first && !fw.fromStart && fi.Size() > 0 {
		off, err := fw.lineStartNearEnd(fi.Size())
		if err != nil {
			f.Close()
			fw.f = nil
			return err
		}
		fw.offset = off
	}
	if _, err := f.Seek(fw.offset, io.SeekStart); err != nil {
		f.Close()
		fw.f = nil
		return fmt.Errorf("log extractor: %w", err)
	}
	if fw.warned {
		fw.x.log.Info("log file appeared", "file", fw.path)
		fw.warned = false
	}
	if fw.x.opened != nil {
		fw.x.opened()
	}
	return nil
}

// lineStartNearEnd is where following from the end starts: the end, or
// after the next newline when the file ends inside a line being written
// (so no half line is emitted).
func (fw *follower) lineStartNearEnd(size int64) (int64, error) {
	var b [1]byte
	if _, err := fw.f.ReadAt(b[:], size-1); err != nil {
		return 0, fmt.Errorf("log extractor: %w", err)
	}
	if b[0] != '\n' {
		fw.split.skip = true // the rest of the line being written
	}
	return size, nil
}

// checkRotation handles the file having been renamed away, replaced or
// truncated since it was opened.
func (fw *follower) checkRotation(handle func([]byte) error) error {
	x := fw.x
	cur, err := os.Stat(fw.path)
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("log extractor: %w", err)
	case err == nil && !os.SameFile(cur, fw.fi):
		// Rotated: the old file was drained above; the new one is read
		// from its start.
		if err := fw.split.flush(handle); err != nil {
			return err
		}
		x.m.rotations.Inc()
		x.log.Info("log file rotated; following the new file", "file", fw.path)
		fw.f.Close()
		fw.f = nil
		if err := fw.open(false); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	case err == nil:
		if st, serr := fw.f.Stat(); serr == nil && st.Size() < fw.offset {
			x.m.truncations.Inc()
			x.log.Info("log file truncated; reading it from the start", "file", fw.path, "size", st.Size(), "was", fw.offset)
			fw.split.reset()
			fw.offset = 0
			if _, err := fw.f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("log extractor: %w", err)
			}
		}
	}
	// err is ErrNotExist: renamed away and not recreated yet; keep the old
	// file open (a writer may still append to it) and look again later.
	return nil
}
