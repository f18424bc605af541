package edit

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
)

// Options configure where and how an edit writes.
type Options struct {
	// Out is a directory (created if missing) receiving segments named
	// NODE-TIME-SEQ.seg.zst, or a file name ending in .seg.zst for a
	// single segment — then every selected event must come from one node.
	// Existing files are never overwritten.
	Out string
	// Level is the zstd level of the output (default format.DefaultLevel).
	Level int
	// FrameSize is the raw size of an output zstd frame (default
	// format.DefaultFrameSize); memory use grows with it up to the zstd
	// window.
	FrameSize int64
	// Label describes the edit; it goes into the output metadata as the
	// label "peertape.edit".
	Label string
	// Progress, when set, is called now and then with how far the edit
	// got in input bytes, the last call with done == total. (Merge
	// estimates the bytes done from event time when it interleaves
	// inputs.)
	Progress func(done, total int64)
	Logger   *slog.Logger
}

// LabelKey is the metadata label an edit describes itself under.
const LabelKey = "peertape.edit"

// Output describes one segment an edit wrote.
type Output struct {
	Path    string `json:"path"`
	Node    string `json:"node"`
	Events  uint64 `json:"events"`
	FirstMs int64  `json:"first_time_ms"`
	LastMs  int64  `json:"last_time_ms"`
}

// Report says what an edit did.
type Report struct {
	Files   int    `json:"files"`          // input files
	Read    uint64 `json:"events_read"`    // records read that passed the time range and kinds (Filter), or all records read
	Written uint64 `json:"events_written"` // records written
	// CopiedFrames counts input frames copied verbatim (no recompression)
	// because every record in them was selected.
	CopiedFrames int      `json:"frames_copied"`
	Outputs      []Output `json:"outputs"`
	Problems     []string `json:"problems,omitempty"` // damage found in the inputs
}

const maxProblems = 100

func (r *Report) problem(msg string) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, msg)
	} else if len(r.Problems) == maxProblems {
		r.Problems = append(r.Problems, "(more problems not listed)")
	}
}

// SingleFile reports whether out names one segment rather than a
// directory.
func SingleFile(out string) bool { return strings.HasSuffix(out, ".seg.zst") }

// inputInfo is what an edit learns about an input before reading it.
type inputInfo struct {
	path string
	node string
	meta *pb.SegmentMeta
	gaps []*pb.Gap // known without reading: from the index
	// indexed files know their time range without reading
	indexed          bool
	minTime, maxTime int64
}

// probeInputs reads the metadata of every file and checks that the inputs
// of one node agree on sanitization.
func probeInputs(files []string) ([]inputInfo, error) {
	out := make([]inputInfo, 0, len(files))
	first := map[string]inputInfo{}
	for _, f := range files {
		r, err := format.Open(f)
		if err != nil {
			return nil, err
		}
		in := inputInfo{path: f, node: r.Meta().GetNode(), meta: proto.Clone(r.Meta()).(*pb.SegmentMeta)}
		if idx := r.Index(); idx != nil {
			in.gaps = r.Gaps()
			in.indexed = true
			in.minTime, in.maxTime = idx.MinTimeMs, idx.MaxTimeMs
			if idx.Events == 0 {
				in.minTime, in.maxTime = 0, -1 // empty: overlaps nothing
			}
		}
		r.Close()
		if p, ok := first[in.node]; ok {
			if a, b := p.meta.GetSanitization().GetKeyFingerprint(), in.meta.GetSanitization().GetKeyFingerprint(); a != b || (p.meta.Sanitization == nil) != (in.meta.Sanitization == nil) {
				return nil, fmt.Errorf("%s and %s (node %q) differ in sanitization (%s vs %s): editing them together would mislabel the output",
					p.path, f, in.node, sanitizedText(p.meta), sanitizedText(in.meta))
			}
		} else {
			first[in.node] = in
		}
		out = append(out, in)
	}
	return out, nil
}

func sanitizedText(m *pb.SegmentMeta) string {
	if m.Sanitization == nil {
		return "not sanitized"
	}
	return "sanitized with key " + m.Sanitization.GetKeyFingerprint()
}

// sink writes events into per-node segments, rotating by event time or
// size when asked.
type sink struct {
	o     Options
	every time.Duration
	size  int64
	nodes map[string]*nodeOut
	meta  map[string]*pb.SegmentMeta // base metadata per node
	rep   *Report
	names map[string]bool
	// filter is recorded in the metadata of outputs whose inputs had none.
	filter *event.Filter
}

type nodeOut struct {
	node    string
	w       *format.Writer
	outIdx  int // index of the current output in Report.Outputs
	seq     uint64
	prev    string // base name of the previous output of this node
	bucket  int64  // end (exclusive) of the current time bucket, ms
	maxTime int64
	gaps    []*pb.Gap // not yet written
	seen    map[gapKey]bool
	n       uint64
}

type gapKey struct {
	start, end int64
	reason     string
}

func newSink(o Options, rep *Report, infos []inputInfo) (*sink, error) {
	s := &sink{o: o, nodes: map[string]*nodeOut{}, meta: map[string]*pb.SegmentMeta{}, rep: rep, names: map[string]bool{}}
	for _, in := range infos {
		if _, ok := s.meta[in.node]; !ok {
			s.meta[in.node] = in.meta
		}
	}
	if SingleFile(o.Out) {
		if len(s.meta) > 1 {
			var nodes []string
			for n := range s.meta {
				nodes = append(nodes, fmt.Sprintf("%q", n))
			}
			return nil, fmt.Errorf("the inputs come from %d nodes (%s) but -o %s names one segment: give a directory", len(nodes), strings.Join(nodes, ", "), o.Out)
		}
		if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *sink) nodeOut(node string) *nodeOut {
	n := s.nodes[node]
	if n == nil {
		n = &nodeOut{node: node, seen: map[gapKey]bool{}}
		s.nodes[node] = n
	}
	return n
}

// addGaps queues recorded outages of node for the output covering them;
// gaps seen before (the same file read twice, an index and its notes)
// are queued once. keep selects the gaps to carry.
func (s *sink) addGaps(node string, gaps []*pb.Gap, keep func(*pb.Gap) bool) {
	n := s.nodeOut(node)
	for _, g := range gaps {
		k := gapKey{g.StartMs, g.EndMs, g.Reason}
		if n.seen[k] || (keep != nil && !keep(g)) {
			continue
		}
		n.seen[k] = true
		n.gaps = append(n.gaps, g)
	}
}

// append writes ev into its node's current output, starting or rotating
// outputs as needed.
func (s *sink) append(ev event.Event) error {
	n := s.nodeOut(ev.Node)
	if n.w != nil && s.rotate(n, ev.Time) {
		if err := s.finish(n); err != nil {
			return err
		}
		// A finished writer leaves its zstd encoder (tens of MiB of
		// window and tables) to the collector; without handing that back
		// now, a split into many segments grows the process by fresh
		// address space for every encoder before the scavenger catches up.
		debug.FreeOSMemory()
	}
	if n.w == nil {
		if err := s.start(n, ev.Time); err != nil {
			return err
		}
	}
	if len(n.gaps) > 0 {
		s.flushGaps(n, ev.Time)
	}
	if err := n.w.Append(ev); err != nil {
		return err
	}
	n.n++
	out := &s.rep.Outputs[n.outIdx]
	out.Events++
	if out.Events == 1 {
		out.FirstMs = ev.Time
	}
	out.LastMs = ev.Time
	n.maxTime = max(n.maxTime, ev.Time)
	s.rep.Written++
	return nil
}

// copyFrame copies frame i of r, from node's input, verbatim into node's
// output when every record in it is selected and it does not straddle a
// split boundary, and reports whether it did; otherwise the caller reads
// the frame's records one by one. sel holds what Filter selects (nil for
// Split).
func (s *sink) copyFrame(r *format.Reader, node string, i int, fi *pb.FrameInfo, sel *frameSelection) bool {
	if fi.Events == 0 || (sel != nil && !sel.covers(fi)) {
		return false
	}
	n := s.nodeOut(node)
	if n.w != nil {
		rot := false
		switch {
		case s.every > 0:
			rot = s.rotate(n, fi.FirstTimeMs)
		case s.size > 0:
			rot = n.w.Stats().Bytes >= s.size
		}
		if rot {
			if err := s.finish(n); err != nil {
				return false
			}
			debug.FreeOSMemory()
		}
	}
	if n.w == nil {
		if err := s.start(n, fi.FirstTimeMs); err != nil {
			return false
		}
	}
	if s.every > 0 && max(fi.MaxTimeMs, n.maxTime) >= n.bucket {
		return false // some record of it belongs to the next segment
	}
	if s.size > 0 && n.w.Stats().Bytes+int64(fi.CompressedLen) > s.size {
		return false // the records fill the segment up to its size instead
	}
	if len(n.gaps) > 0 {
		s.flushGaps(n, fi.FirstTimeMs)
	}
	if err := n.w.CopyFrame(r, i); err != nil {
		return false // damaged or not copyable: read it record by record
	}
	n.n += fi.Events
	out := &s.rep.Outputs[n.outIdx]
	if out.Events == 0 {
		out.FirstMs = fi.FirstTimeMs
	}
	out.Events += fi.Events
	out.LastMs = fi.LastTimeMs
	n.maxTime = max(n.maxTime, fi.MaxTimeMs)
	s.rep.Read += fi.Events
	s.rep.Written += fi.Events
	s.rep.CopiedFrames++
	return true
}

// frameSelection is what Filter selects, as far as whole frames go.
type frameSelection struct {
	from, to int64
	kinds    *event.Filter
}

// covers reports whether every record of fi is selected.
func (f *frameSelection) covers(fi *pb.FrameInfo) bool {
	if (f.from != 0 && fi.MinTimeMs < f.from) || (f.to != 0 && fi.MaxTimeMs >= f.to) {
		return false
	}
	for name := range fi.Kinds {
		k, err := event.ParseKind(name)
		if err != nil {
			return false
		}
		var types map[string]uint64
		if k == event.NetMsg {
			types = fi.Commands
		}
		if !f.kinds.PassesAll(k, types) {
			return false
		}
	}
	return true
}

// rotate reports whether the event at t starts a new output segment.
func (s *sink) rotate(n *nodeOut, t int64) bool {
	switch {
	case s.every > 0:
		// The running maximum decides, so a record stepping back in
		// time stays in the segment it arrived in: split never reorders.
		return max(t, n.maxTime) >= n.bucket
	case s.size > 0:
		return n.n%64 == 0 && n.w.Stats().Bytes >= s.size
	}
	return false
}

func (s *sink) start(n *nodeOut, t int64) error {
	meta := proto.Clone(s.meta[n.node]).(*pb.SegmentMeta)
	if meta.Node == "" {
		meta.Node = n.node
	}
	meta.CreatedMs = t
	meta.Sequence = n.seq
	meta.Previous = n.prev
	meta.CompressionLevel = 0
	if s.o.Label != "" {
		if meta.Labels == nil {
			meta.Labels = map[string]string{}
		}
		meta.Labels[LabelKey] = s.o.Label
	}
	if meta.Filter == nil && !s.filter.Empty() {
		meta.Filter = &pb.Filter{Only: s.filter.Only(), Exclude: s.filter.Exclude()}
	}
	path := s.o.Out
	if !SingleFile(path) {
		path = filepath.Join(s.o.Out, format.SegmentName(n.node, time.UnixMilli(t), n.seq))
	}
	if s.names[path] {
		return fmt.Errorf("two outputs would be named %s", path)
	}
	for _, p := range []string{path, path + format.PartialSuffix} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists; edits never overwrite files", p)
		}
	}
	s.names[path] = true
	w, err := format.Create(path, format.WriterOptions{
		Level:          s.o.Level,
		FrameSize:      s.o.FrameSize,
		FrameAge:       -1, // frames close by size: wall-clock age means nothing offline
		FlushInterval:  -1,
		EventTimeFlush: format.DefaultFlushInterval,
		Fsync:          format.FsyncSegment,
		Meta:           meta,
		Logger:         s.o.Logger,
	})
	if err != nil {
		return err
	}
	n.w = w
	n.n = 0
	n.maxTime = t
	if s.every > 0 {
		e := s.every.Milliseconds()
		n.bucket = floorDiv(t, e)*e + e
	}
	s.rep.Outputs = append(s.rep.Outputs, Output{Path: path, Node: n.node})
	n.outIdx = len(s.rep.Outputs) - 1
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// flushGaps writes the queued gaps that start by t into n's output.
func (s *sink) flushGaps(n *nodeOut, t int64) {
	kept := n.gaps[:0]
	for _, g := range n.gaps {
		if g.StartMs <= t {
			n.w.Gap(g)
		} else {
			kept = append(kept, g)
		}
	}
	n.gaps = kept
}

func (s *sink) finish(n *nodeOut) error {
	path := n.w.Path()
	err := n.w.Close()
	n.w = nil
	n.prev = filepath.Base(path)
	n.seq++
	return err
}

// close writes the remaining gaps into each node's last output and
// finishes every output.
func (s *sink) close() error {
	var errs []error
	for _, n := range s.nodes {
		if n.w == nil {
			continue
		}
		s.flushGaps(n, 1<<62)
		errs = append(errs, s.finish(n))
	}
	return errors.Join(errs...)
}

// abort closes every open output and removes it: an edit that failed
// leaves only the outputs it finished.
func (s *sink) abort() {
	removed := map[string]bool{}
	for _, n := range s.nodes {
		if n.w != nil {
			path := n.w.Path()
			n.w.Close()
			os.Remove(path)
			removed[path] = true
			n.w = nil
		}
	}
	kept := s.rep.Outputs[:0]
	for _, o := range s.rep.Outputs {
		if !removed[o.Path] {
			kept = append(kept, o)
		}
	}
	s.rep.Outputs = kept
}
