package sanitize

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
)

// ArchiveOptions configure Archive.
type ArchiveOptions struct {
	// Options say what the Sanitizer does. Self is extended with the
	// addresses the first pass learns.
	Options
	// ToolVersion goes into the output metadata, e.g. "peertape 0.1.0".
	ToolVersion string
	// NoLearnSelf skips the first pass that collects the node's own
	// addresses (getnetworkinfo local_addresses) from every input before
	// rewriting. Without it an address is a placeholder only from the
	// first getnetworkinfo poll on, and the events before that carry its
	// pseudonym — which names the node to anyone who later sees both.
	NoLearnSelf bool
	// Level is the zstd level of the output (default format.DefaultLevel).
	Level int
	// FrameSize is the raw size of an output zstd frame (default
	// format.DefaultFrameSize).
	FrameSize int64
	// Progress, when set, is called now and then with the input bytes
	// read so far and in total (the first pass counts as reading every
	// input once more).
	Progress func(done, total int64)
	// Now is the clock for the sanitization time in the metadata.
	Now    func() time.Time
	Logger *slog.Logger
}

// FileReport says what Archive did with one input file.
type FileReport struct {
	Input     string `json:"input"`
	Output    string `json:"output"`
	EventsIn  uint64 `json:"events_in"`
	EventsOut uint64 `json:"events_out"`
	// Unreadable counts records that did not decode: they cannot be
	// vouched for and are left out.
	Unreadable   uint64   `json:"unreadable,omitempty"`
	DroppedBytes int64    `json:"dropped_bytes,omitempty"` // torn tail of the input
	Problems     []string `json:"problems,omitempty"`      // damage found in the input
}

// ArchiveReport says what Archive did.
type ArchiveReport struct {
	Files          []FileReport `json:"files"`
	KeyFingerprint string       `json:"key_fingerprint"`
	// SelfGiven and SelfLearned count the node's own addresses from
	// Options.Self and from the first pass (never listed: the report may
	// be shared along with the archive).
	SelfGiven   int   `json:"self_given"`
	SelfLearned int   `json:"self_learned"`
	Stats       Stats `json:"stats"`
}

// Problems counts the damaged inputs and unreadable records.
func (r *ArchiveReport) Problems() int {
	n := 0
	for _, f := range r.Files {
		n += len(f.Problems) + int(f.Unreadable)
	}
	return n
}

// Archive sanitizes the archives at inputs (segments, directories of them,
// .partial files, peer-observer archives) into complete segments in
// outDir, one output segment per input file, streaming: memory does not
// grow with the size of the archive (it is bounded by one reader, one
// writer and the pseudonym caches).
//
// Output segments are named format.SegmentName(sanitized node, shifted
// creation time, sequence), never after the input: input names carry
// host names and unshifted times. Their metadata comes from
// Sanitizer.Meta (sanitized flag, tool version, options, key
// fingerprint); they are written with one flush per second of event time,
// so they are shaped like a live recording. Gaps are carried over with
// their times shifted and their reasons sanitized.
//
// Before rewriting, a first pass collects the node's own addresses from
// every getnetworkinfo poll in the inputs (see NoLearnSelf). Records that
// do not decode are left out and reported; damaged inputs are read as far
// as they can be and their damage reported. Archive refuses to write over
// an existing file. On error or cancellation the output being written is
// removed; finished outputs stay.
func Archive(ctx context.Context, key Key, inputs []string, outDir string, o ArchiveOptions) (*ArchiveReport, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	files, err := format.Expand(inputs)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			total += st.Size()
		}
	}
	passes := int64(2)
	if o.NoLearnSelf {
		passes = 1
	}
	prog := &progressCounter{fn: o.Progress, total: total * passes}
	rep := &ArchiveReport{KeyFingerprint: key.Fingerprint()}

	opts := o.Options
	opts.Self = append([]string(nil), o.Self...)
	given, err := NewAddress(key, false, opts.Self)
	if err != nil {
		return nil, fmt.Errorf("sanitize: %w", err)
	}
	rep.SelfGiven = given.SelfCount()
	if !o.NoLearnSelf {
		learned, err := learnSelf(ctx, files, prog)
		if err != nil {
			return nil, err
		}
		for _, a := range learned {
			if err := given.AddSelf(a); err == nil {
				opts.Self = append(opts.Self, a)
			}
		}
		rep.SelfLearned = given.SelfCount() - rep.SelfGiven
	}
	s, err := New(key, opts)
	if err != nil {
		return nil, err
	}
	s.borrow = true // archiveFile appends each event before the next
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("sanitize: %w", err)
	}
	used := map[string]bool{}
	for _, f := range files {
		fr, err := s.archiveFile(ctx, f, outDir, used, o, prog)
		if fr != nil {
			rep.Files = append(rep.Files, *fr)
		}
		if err != nil {
			rep.Stats = s.Stats()
			return rep, err
		}
		// The file's zstd decoder and encoder (tens of MiB) are garbage
		// now: hand them back before the next file allocates its own, so
		// that a long directory does not grow the process.
		debug.FreeOSMemory()
	}
	rep.Stats = s.Stats()
	if st := rep.Stats; st.UnknownFieldEvents > 0 && !o.DropUnknownFields {
		o.Logger.Warn("events carried fields this build does not know; they were copied unchanged and may hold addresses (run sanitize --check, or use --drop-unknown-fields)",
			"events", st.UnknownFieldEvents, "fields", st.UnknownFields)
	}
	return rep, nil
}

// progressCounter turns per-file offsets into overall progress.
type progressCounter struct {
	fn          func(done, total int64)
	total, base int64
}

func (p *progressCounter) at(off int64) {
	if p.fn != nil {
		p.fn(min(p.base+off, p.total), p.total)
	}
}

func (p *progressCounter) fileDone(path string) {
	if st, err := os.Stat(path); err == nil {
		p.base += st.Size()
	}
	p.at(0)
}

// learnSelf is the first pass: the local addresses of every getnetworkinfo
// poll in files.
func learnSelf(ctx context.Context, files []string, prog *progressCounter) ([]string, error) {
	only, err := event.NewFilter([]string{"rpc:network_info"}, nil)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		r, err := format.Open(f, format.ReadOptions{Filter: only})
		if err != nil {
			return nil, fmt.Errorf("sanitize: %w", err)
		}
		for r.Next() {
			if ctx.Err() != nil {
				r.Close()
				return nil, ctx.Err()
			}
			addrs, err := SelfAddresses(r.RawEvent())
			if err != nil {
				continue // reported by the rewriting pass
			}
			for _, a := range addrs {
				if !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
			prog.at(r.Offset())
		}
		err = r.Err()
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("sanitize: read %s: %w", f, err)
		}
		prog.fileDone(f)
	}
	return out, nil
}

// outputName picks the output file name for sanitized metadata meta.
func outputName(outDir string, meta *pb.SegmentMeta, used map[string]bool) (string, error) {
	t := time.UnixMilli(meta.CreatedMs)
	for seq := meta.Sequence; ; seq++ {
		p := filepath.Join(outDir, format.SegmentName(meta.Node, t, seq))
		if used[p] {
			continue
		}
		for _, q := range []string{p, p + format.PartialSuffix} {
			if _, err := os.Lstat(q); err == nil {
				return "", fmt.Errorf("sanitize: %s exists; sanitize into an empty directory", q)
			}
		}
		used[p] = true
		return p, nil
	}
}

func (s *Sanitizer) archiveFile(ctx context.Context, path, outDir string, used map[string]bool, o ArchiveOptions, prog *progressCounter) (*FileReport, error) {
	r, err := format.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sanitize: %w", err)
	}
	defer r.Close()
	fr := &FileReport{Input: path}
	inMeta := r.Meta()
	meta := s.Meta(inMeta, o.ToolVersion, o.Now())
	if inMeta.GetCreatedMs() == 0 {
		if t, ok, err := format.StartTime([]string{path}); err == nil && ok {
			meta.CreatedMs = t + s.shiftMs
		}
	}
	meta.CompressionLevel = 0
	out, err := outputName(outDir, meta, used)
	if err != nil {
		return fr, err
	}
	fr.Output = out
	w, err := format.Create(out, format.WriterOptions{
		Level:          o.Level,
		FrameSize:      o.FrameSize,
		FrameAge:       -1, // frames close by size: wall-clock age means nothing offline
		FlushInterval:  -1,
		EventTimeFlush: format.DefaultFlushInterval,
		Fsync:          format.FsyncSegment,
		Meta:           meta,
		Logger:         o.Logger,
	})
	if err != nil {
		return fr, fmt.Errorf("sanitize: %w", err)
	}
	abort := func(err error) (*FileReport, error) {
		w.Close()
		os.Remove(out)
		fr.Output = ""
		return fr, err
	}
	var ordinal uint64
	for r.Next() {
		if ordinal%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return abort(err)
			}
			prog.at(r.Offset())
		}
		ev := r.RawEvent()
		ordinal++
		fr.EventsIn++
		sev, keep, err := s.Event(ev)
		if err != nil {
			fr.Unreadable++
			if fr.Unreadable <= 10 {
				fr.Problems = append(fr.Problems, fmt.Sprintf("%s: record %d (frame %d): %v; left out", path, ordinal-1, r.Frame(), err))
			}
			continue
		}
		if !keep {
			continue
		}
		if err := w.Append(sev); err != nil {
			return abort(fmt.Errorf("sanitize %s: %w", path, err))
		}
		fr.EventsOut++
	}
	if err := r.Err(); err != nil {
		return abort(fmt.Errorf("sanitize: read %s: %w", path, err))
	}
	for _, p := range r.Problems() {
		fr.Problems = append(fr.Problems, p.Error())
	}
	fr.DroppedBytes = r.Dropped() + r.DroppedRaw()
	for _, g := range r.Gaps() {
		w.Gap(s.Gap(g))
	}
	if m := r.Meta(); m != inMeta {
		// A .partial revealed node facts in a note while being read.
		w.NodeInfo(event.NodeInfo{Implementation: m.Implementation, Version: s.addr.Text(m.ImplementationVersion), Network: m.Network})
	}
	if err := w.Close(); err != nil {
		os.Remove(out)
		fr.Output = ""
		return fr, fmt.Errorf("sanitize %s: %w", path, err)
	}
	prog.fileDone(path)
	return fr, nil
}

// Gap returns the sanitized copy of a recorded outage: times shifted like
// event times, addresses in the reason replaced.
func (s *Sanitizer) Gap(g *pb.Gap) *pb.Gap {
	out := proto.Clone(g).(*pb.Gap)
	if out.StartMs != 0 {
		out.StartMs += s.shiftMs
	}
	if out.EndMs != 0 {
		out.EndMs += s.shiftMs
	}
	out.Reason = s.freeText(out.Reason)
	return out
}
