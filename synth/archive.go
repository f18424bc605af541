package synth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
)

// ArchiveOptions configure WriteArchive.
type ArchiveOptions struct {
	// SegmentDuration starts a new segment every this much event time;
	// default one hour.
	SegmentDuration time.Duration
	// Writer is passed to format.Create for every segment. WriteArchive
	// sets Meta, Now, FlushInterval, EventTimeFlush and Fsync itself;
	// Level, WindowSize, FrameSize and FrameAge are honoured.
	Writer format.WriterOptions
	// Recorder names the writing tool in the metadata, e.g. "peertape 0.1.0".
	Recorder string
	// Progress, when set, is called now and then with the event time
	// generated so far and the number of events.
	Progress func(done time.Duration, events uint64)
}

// ArchiveReport says what WriteArchive wrote.
type ArchiveReport struct {
	Files    []string // segment paths in order
	Events   uint64
	RawBytes int64 // event bytes (without record framing)
	Bytes    int64 // size of the segment files
	Stats    Stats
}

// WriteArchive generates the stream of o into segment files in dir
// (created if missing), named format.SegmentName(node, segment start,
// sequence). The files are shaped like a live recording: flushed every
// second of event time, frames aged by event time. Their metadata says
// implementation "synthetic" with o's seed, rate, duration and anomalies,
// and their creation time is the segment's start in event time, so the
// same options write byte-identical files. Existing files are never
// overwritten. When ctx is cancelled the segments written so far are
// closed properly and the report is returned with ctx's error.
func WriteArchive(ctx context.Context, dir string, o Options, ao ArchiveOptions) (*ArchiveReport, error) {
	g, err := New(o)
	if err != nil {
		return nil, err
	}
	o = g.Options()
	if ao.SegmentDuration <= 0 {
		ao.SegmentDuration = time.Hour
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	a := &archiveSink{dir: dir, o: o, ao: ao, rep: &ArchiveReport{}, start: o.Start.UnixMilli()}
	runErr := g.Run(ctx, a)
	closeErr := a.close()
	a.rep.Stats = g.Stats()
	for _, f := range a.rep.Files {
		if fi, err := os.Stat(f); err == nil {
			a.rep.Bytes += fi.Size()
		}
	}
	if err := errors.Join(runErr, closeErr); err != nil {
		return a.rep, err
	}
	return a.rep, nil
}

// archiveSink rotates segments by event time.
type archiveSink struct {
	dir      string
	o        Options
	ao       ArchiveOptions
	rep      *ArchiveReport
	start    int64
	w        *format.Writer
	segEnd   int64
	seq      uint64
	now      int64 // event time of the event being written: the writer's clock
	previous string
}

func (a *archiveSink) Consume(ev event.Event) error {
	if a.w == nil || ev.Time >= a.segEnd {
		if err := a.rotate(ev.Time); err != nil {
			return err
		}
	}
	a.now = ev.Time
	if err := a.w.Append(ev); err != nil {
		return err
	}
	a.rep.Events++
	a.rep.RawBytes += int64(len(ev.Raw))
	if a.ao.Progress != nil && a.rep.Events&0x3fff == 0 {
		a.ao.Progress(time.Duration(ev.Time-a.start)*time.Millisecond, a.rep.Events)
	}
	return nil
}

// rotate closes the current segment and opens the one holding time t.
func (a *archiveSink) rotate(t int64) error {
	if err := a.close(); err != nil {
		return err
	}
	d := a.ao.SegmentDuration.Milliseconds()
	segStart := a.start + (t-a.start)/d*d
	a.segEnd = segStart + d
	name := format.SegmentName(a.o.Node, time.UnixMilli(segStart), a.seq)
	meta := a.o.Meta()
	meta.Recorder = a.ao.Recorder
	meta.CreatedMs = segStart
	meta.Sequence = a.seq
	meta.Previous = a.previous
	wo := a.ao.Writer
	wo.Meta = meta
	wo.FlushInterval = -1
	wo.EventTimeFlush = format.DefaultFlushInterval
	wo.Fsync = format.FsyncSegment
	a.now = t
	wo.Now = func() time.Time { return time.UnixMilli(a.now) }
	path := filepath.Join(a.dir, name)
	w, err := format.Create(path, wo)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	a.w = w
	a.seq++
	a.previous = name
	a.rep.Files = append(a.rep.Files, path)
	return nil
}

func (a *archiveSink) close() error {
	if a.w == nil {
		return nil
	}
	w := a.w
	a.w = nil
	if err := w.Close(); err != nil {
		return fmt.Errorf("synth: close %s: %w", w.Path(), err)
	}
	return nil
}
