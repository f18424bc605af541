package edit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
	"github.com/peertape/peertape/replay"
)

// Selection says which events Filter keeps. The zero value keeps all.
type Selection struct {
	// From (inclusive) and To (exclusive) bound event time; offsets like
	// "+10m" count from the earliest event of the inputs.
	From, To event.TimeSpec
	// Kinds selects kinds and types (--only / --exclude).
	Kinds *event.Filter
	// Peers keeps only events about these peers (see Peers for exactly
	// what matches).
	Peers *Peers
}

// Filter copies the selected events of inputs (segments, directories,
// .partial files, peer-observer archives) into o.Out, byte for byte. Files
// are read in the order given (directories in name order, i.e. time order
// for one node) and each node's events are written in that order: Filter
// never reorders (use Merge to interleave overlapping archives). Frames
// and files that the index shows to hold nothing selected are not
// decompressed.
func Filter(ctx context.Context, inputs []string, sel Selection, o Options) (*Report, error) {
	files, err := format.Expand(inputs)
	if err != nil {
		return nil, err
	}
	from, to, err := format.ResolveRange(files, sel.From, sel.To)
	if err != nil {
		return nil, err
	}
	ropts := format.ReadOptions{From: from, To: to, Filter: sel.Kinds}
	keep := func(ev event.Event) bool { return sel.Peers.Match(ev) }
	if sel.Peers.Empty() {
		keep = nil
	}
	gapKeep := func(g *pb.Gap) bool {
		return (from == 0 || g.EndMs >= from) && (to == 0 || g.StartMs < to)
	}
	var whole *frameSelection
	if keep == nil { // a peer selection must look at every record
		whole = &frameSelection{from: from, to: to, kinds: sel.Kinds}
	}
	return readSequential(ctx, files, ropts, keep, gapKeep, sel.Kinds, whole, 0, 0, o)
}

// Split cuts inputs into segments in o.Out (a directory) by event time —
// every, aligned to multiples of it since the epoch in UTC, so "1h" cuts
// at every full hour — or by size: a new segment starts once the current
// one reaches size bytes on disk (it may exceed it by up to a second of
// events, the flush interval). Exactly one of every and size is positive.
// Records keep their order: a record whose time steps back across a
// boundary stays in the segment it arrived in. Each node is split on its
// own.
func Split(ctx context.Context, inputs []string, every time.Duration, size int64, o Options) (*Report, error) {
	if (every > 0) == (size > 0) {
		return nil, errors.New("split: give exactly one of a duration and a size")
	}
	if every > 0 && every < time.Millisecond {
		return nil, fmt.Errorf("split: duration %v is shorter than a millisecond", every)
	}
	if SingleFile(o.Out) {
		return nil, fmt.Errorf("split: -o %s: want a directory, not a segment name", o.Out)
	}
	files, err := format.Expand(inputs)
	if err != nil {
		return nil, err
	}
	return readSequential(ctx, files, format.ReadOptions{}, nil, nil, nil, &frameSelection{}, every, size, o)
}

// readSequential reads files one after the other into per-node outputs.
// Frames that whole selects (nil: none) are copied verbatim.
func readSequential(ctx context.Context, files []string, ropts format.ReadOptions, keep func(event.Event) bool, gapKeep func(*pb.Gap) bool,
	kinds *event.Filter, whole *frameSelection, every time.Duration, size int64, o Options) (*Report, error) {
	infos, err := probeInputs(files)
	if err != nil {
		return nil, err
	}
	return readInfos(ctx, infos, ropts, keep, gapKeep, kinds, whole, every, size, o)
}

func readInfos(ctx context.Context, infos []inputInfo, ropts format.ReadOptions, keep func(event.Event) bool, gapKeep func(*pb.Gap) bool,
	kinds *event.Filter, whole *frameSelection, every time.Duration, size int64, o Options) (*Report, error) {
	files := make([]string, len(infos))
	for i, in := range infos {
		files[i] = in.path
	}
	rep := &Report{Files: len(files), Outputs: []Output{}} // JSON "outputs": [] when nothing was written
	s, err := newSink(o, rep, infos)
	if err != nil {
		return nil, err
	}
	s.every, s.size, s.filter = every, size, kinds
	var total, base int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			total += st.Size()
		}
	}
	progress := func(off int64) {
		if o.Progress != nil {
			o.Progress(min(base+off, total), total)
		}
	}
	for i, f := range files {
		if err := readFile(ctx, f, infos[i], ropts, keep, gapKeep, whole, s, rep, progress); err != nil {
			s.abort()
			return rep, err
		}
		if st, err := os.Stat(f); err == nil {
			base += st.Size()
		}
		progress(0)
		// The file's zstd decoder is garbage now; hand it back (see
		// sink.append).
		debug.FreeOSMemory()
	}
	if err := s.close(); err != nil {
		return rep, err
	}
	return rep, nil
}

func readFile(ctx context.Context, path string, info inputInfo, ropts format.ReadOptions, keep func(event.Event) bool, gapKeep func(*pb.Gap) bool,
	whole *frameSelection, s *sink, rep *Report, progress func(int64)) error {
	var r *format.Reader
	if whole != nil {
		ropts.OnFrame = func(i int, fi *pb.FrameInfo) bool {
			progress(int64(fi.Offset))
			return ctx.Err() == nil && s.copyFrame(r, info.node, i, fi, whole)
		}
	}
	r, err := format.Open(path, ropts)
	if err != nil {
		return err
	}
	defer r.Close()
	s.addGaps(info.node, info.gaps, gapKeep)
	for r.Next() {
		if rep.Read%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			progress(r.Offset())
		}
		rep.Read++
		ev := r.RawEvent()
		if keep != nil && !keep(ev) {
			continue
		}
		if err := s.append(ev); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	for _, p := range r.Problems() {
		rep.problem(p.Error())
	}
	if d := r.Dropped() + r.DroppedRaw(); d > 0 {
		rep.problem(fmt.Sprintf("%s: torn tail of %d bytes not read", path, d))
	}
	s.addGaps(info.node, r.Gaps(), gapKeep)
	return nil
}

// Merge interleaves the events of inputs by event time into o.Out —
// archives of one node recorded in overlapping stretches, or of several
// nodes — keeping each event's node: every node gets its own output
// segments, each in event-time order, and replaying the output directory
// gives the merged stream. The merge is replay's k-way merge (stable:
// equal times keep the order of the files as given); inside a file
// records keep their arrival order, so a record that steps back in time
// follows its predecessor. Files are opened only when the merge reaches
// them, so memory grows with the number of inputs overlapping in time, not
// with their number or size.
func Merge(ctx context.Context, inputs []string, o Options) (*Report, error) {
	rep := &Report{Outputs: []Output{}}
	r, err := replay.Open(inputs, replay.Speed(replay.Max), replay.WithLogger(o.Logger),
		replay.OnProblem(func(err error) { rep.problem(err.Error()) }))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var files []string
	for _, f := range r.Files() {
		files = append(files, f.Path)
	}
	rep.Files = len(files)
	infos, err := probeInputs(files)
	if err != nil {
		return nil, err
	}
	if seq, ok := disjointPerNode(infos); ok {
		// Each node's inputs follow one another in time: merging them is
		// concatenating them in time order, and whole frames can be copied.
		r.Close()
		return readInfos(ctx, seq, format.ReadOptions{}, nil, nil, nil, &frameSelection{}, 0, 0, o)
	}
	s, err := newSink(o, rep, infos)
	if err != nil {
		return nil, err
	}
	for i, in := range infos {
		gaps := in.gaps
		if fi := r.Files()[i]; gaps == nil && !fi.Indexed && fi.Format == format.FormatSegment.String() {
			gaps = partialGaps(in.path)
		}
		s.addGaps(in.node, gaps, nil)
	}
	// Progress is in input bytes, as for Filter and Split; interleaved
	// readers have no single offset, so the bytes done are estimated
	// from how far the merge got in event time.
	var total int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			total += st.Size()
		}
	}
	first, _ := r.Span()
	done := int64(0)
	for r.Next() {
		if rep.Read%4096 == 0 {
			if err := ctx.Err(); err != nil {
				s.abort()
				return rep, err
			}
			if _, last := r.Span(); o.Progress != nil && last > first {
				frac := float64(r.RawEvent().Time-first) / float64(last-first)
				done = max(done, min(total, int64(frac*float64(total))))
				o.Progress(done, total)
			}
		}
		rep.Read++
		if err := s.append(r.RawEvent()); err != nil {
			s.abort()
			return rep, err
		}
	}
	if err := s.close(); err != nil {
		return rep, err
	}
	if o.Progress != nil {
		o.Progress(total, total)
	}
	return rep, nil
}

// disjointPerNode returns infos ordered by node and time when every input
// is indexed and the inputs of each node follow one another in time, so
// that the merge of each node is the concatenation of its inputs: every
// record of one input is at or before every record of the next, and where
// the two touch (equal times) the earlier input was also given first, as
// the stable merge orders ties.
func disjointPerNode(infos []inputInfo) ([]inputInfo, bool) {
	type ordered struct {
		inputInfo
		given int
	}
	seq := make([]ordered, len(infos))
	for i, in := range infos {
		if !in.indexed {
			return nil, false
		}
		seq[i] = ordered{in, i}
	}
	sort.SliceStable(seq, func(i, j int) bool {
		if seq[i].node != seq[j].node {
			return seq[i].node < seq[j].node
		}
		return seq[i].minTime < seq[j].minTime
	})
	out := make([]inputInfo, len(seq))
	for i := range seq {
		out[i] = seq[i].inputInfo
		if i == 0 {
			continue
		}
		a, b := seq[i-1], seq[i]
		empty := a.maxTime < a.minTime || b.maxTime < b.minTime
		if a.node != b.node || empty {
			continue
		}
		if a.maxTime > b.minTime || (a.maxTime == b.minTime && a.given > b.given) {
			return nil, false
		}
	}
	return out, true
}

// partialGaps reads the gaps noted in a segment without an index (they
// are notes between its frames, found only by reading it).
func partialGaps(path string) []*pb.Gap {
	r, err := format.Open(path)
	if err != nil {
		return nil
	}
	defer r.Close()
	for r.Next() {
	}
	return r.Gaps()
}
