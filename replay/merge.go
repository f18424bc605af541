package replay

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
)

// ErrNoFiles is returned by Open when none of the paths holds an archive
// that could be read.
var ErrNoFiles = errors.New("no readable archive files")

// FileInfo describes one input file of a replay, as Open found it.
type FileInfo struct {
	Path string
	Node string
	// Format names the file kind ("peertape v1", "peer-observer (zstd)" …).
	Format string
	// Indexed is true for complete segments, whose index gave Start, End
	// and Events without decompressing anything.
	Indexed bool
	// Start is the file's earliest event time (index) or its first
	// record's time; the merge opens the file once it reaches Start (or
	// From, if later).
	Start int64
	// End is the latest event time from the index; for files without an
	// index it is only known once read, and equals Start until then.
	End int64
	// Events is the number of events in the file (index), or 0 if unknown.
	Events uint64
}

// input is one file in the merge.
type input struct {
	FileInfo
	ord  int   // position in the file list: tie-break for equal times
	key  int64 // time at which the merge must open the file
	r    *format.Reader
	head int64 // time of r's current record

	reported int // problems of this file already reported (across passes)
	gapsSeen int
	tornSaid bool // the torn tail was logged (once, not every --loop pass)
}

// Replay is a merged, time-ordered stream over a set of archive files. Use
// it as an iterator (Next/Event) or as an event.Source (Run, paced). It is
// not safe for concurrent use: while Run is going (it merges in a goroutine
// of its own), only Progress may be called, from any goroutine.
type Replay struct {
	cfg    config
	filter *event.Filter
	from   int64 // resolved range, 0 = unbounded
	to     int64
	inputs []*input

	pending []*input // min-heap by (key, ord): files not opened yet
	open    []*input // min-heap by (head, ord): files with a current record
	cur     *input   // open[0] after Next returned true; advanced by the next Next
	pf      *input   // pending file being opened ahead (pending[0]), or nil
	pfCh    chan prefetched
	ev      event.Event

	problems int
	// While Run's reader goroutine merges, problems are queued in deferred
	// and reported from Run's goroutine, in stream order.
	deferProblems bool
	deferred      []error
	lastErrs      []error
	gaps          []*pb.Gap // discovered, not yet handed to Run
	opened        int       // files opened so far (all passes)
	maxOpen       int       // most files open at once

	// for Progress, written by Run's goroutine
	prog progress
	st   Stats
}

// progress is the part of the state other goroutines may read.
type progress struct {
	events atomic.Uint64
	time   atomic.Int64 // running maximum of event time delivered
	first  atomic.Int64 // start of the selection
	last   atomic.Int64 // best known end of the selection
	pass   atomic.Int64
	speed  atomic.Uint64 // math.Float64bits of the current speed
	paused atomic.Bool
	lag    atomic.Int64 // lag of the latest event, ns
}

// Open prepares a replay of paths: segment files, directories of them,
// .partial files and peer-observer archives, mixed. It reads the index of
// every complete segment and the first record of every other file to learn
// where each starts, then closes them all again; files are reopened as the
// merge reaches them.
//
// A file that cannot be read is reported (OnProblem) and skipped; Open
// fails only on invalid options, paths that do not exist, or when no file
// at all could be read.
func Open(paths []string, opts ...Option) (*Replay, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	filter, err := event.NewFilter(cfg.only, cfg.exclude)
	if err != nil {
		return nil, err
	}
	if cfg.control != nil {
		if s := cfg.control.Speed(); s > 0 {
			cfg.speed = s
		} else {
			cfg.control.SetSpeed(cfg.speed)
		}
	}
	files, err := format.Expand(paths)
	if err != nil {
		return nil, err
	}
	r := &Replay{cfg: cfg, filter: filter}
	readable := 0
	for i, p := range files {
		in, ok := r.probe(i, p)
		if ok {
			readable++
		}
		if in != nil {
			r.inputs = append(r.inputs, in)
		}
	}
	if readable == 0 {
		return nil, fmt.Errorf("%w among %d files (%v)", ErrNoFiles, len(files), errors.Join(r.lastErrs...))
	}
	if err := r.resolveRange(); err != nil {
		return nil, err
	}
	r.prog.speed.Store(floatBits(cfg.speed))
	r.reset()
	return r, nil
}

// probe learns where a file starts. ok reports whether the file could be
// read at all; in is nil for files that hold nothing to replay.
func (r *Replay) probe(ord int, path string) (in *input, ok bool) {
	fr, err := format.Open(path)
	if err != nil {
		r.problem(fmt.Errorf("open %s: %w", path, err))
		return nil, false
	}
	defer fr.Close()
	in = &input{ord: ord, FileInfo: FileInfo{Path: path, Node: fr.Meta().GetNode(), Format: fr.Format().String()}}
	if r.cfg.nodes != nil && !r.cfg.nodes[in.Node] {
		return nil, true
	}
	if idx := fr.Index(); idx != nil {
		if idx.Events == 0 {
			return nil, true
		}
		if !anyKind(r.filter, idx.Kinds) {
			return nil, true
		}
		in.Indexed = true
		in.Start, in.End, in.Events = idx.MinTimeMs, idx.MaxTimeMs, idx.Events
		return in, true
	}
	if !fr.Next() {
		// Nothing readable: an empty .partial, or damage before the first
		// record. Report what the reader found.
		in.r = fr
		r.collect(in)
		in.r = nil
		if fr.Err() != nil {
			return nil, false
		}
		return nil, true
	}
	in.Start = fr.RawEvent().Time
	in.End = in.Start
	return in, true
}

func anyKind(f *event.Filter, kinds map[string]uint64) bool {
	if f.Empty() || len(kinds) == 0 {
		return true
	}
	for name := range kinds {
		k, err := event.ParseKind(name)
		if err != nil || f.MatchKind(k) {
			return true
		}
	}
	return false
}

// resolveRange turns From/To into times, drops files outside the range and
// sets every file's merge key.
func (r *Replay) resolveRange() error {
	var start int64
	for i, in := range r.inputs {
		if i == 0 || in.Start < start {
			start = in.Start
		}
	}
	if r.cfg.from.IsSet() {
		r.from = r.cfg.from.Resolve(start)
	}
	if r.cfg.to.IsSet() {
		r.to = r.cfg.to.Resolve(start)
	}
	if r.cfg.from.IsSet() && r.cfg.to.IsSet() && r.to <= r.from {
		return fmt.Errorf("--to %s (%s) is not after --from %s (%s)", r.cfg.to, event.FormatTime(r.to), r.cfg.from, event.FormatTime(r.from))
	}
	kept := r.inputs[:0]
	for _, in := range r.inputs {
		if in.Indexed && ((r.from != 0 && in.End < r.from) || (r.to != 0 && in.Start >= r.to)) {
			continue
		}
		in.key = in.Start
		if r.from != 0 && in.key < r.from {
			in.key = r.from
		}
		kept = append(kept, in)
	}
	r.inputs = kept
	return nil
}

// Files describes the files taking part, in file order.
func (r *Replay) Files() []FileInfo {
	out := make([]FileInfo, len(r.inputs))
	for i, in := range r.inputs {
		out[i] = in.FileInfo
	}
	return out
}

// Nodes returns the distinct node names of the files, sorted.
func (r *Replay) Nodes() []string {
	seen := map[string]bool{}
	var out []string
	for _, in := range r.inputs {
		if !seen[in.Node] {
			seen[in.Node] = true
			out = append(out, in.Node)
		}
	}
	sort.Strings(out)
	return out
}

// Range returns the resolved From and To in ms (0 when unbounded).
func (r *Replay) Range() (from, to int64) { return r.from, r.to }

// Span estimates the event time the replay covers: from the earliest start
// of the selected files to the latest end known so far (files without an
// index are known to their first record until they are read), clipped to
// the range.
func (r *Replay) Span() (first, last int64) {
	for i, in := range r.inputs {
		if i == 0 || in.key < first {
			first = in.key
		}
		last = max(last, in.End)
	}
	last = max(last, r.prog.time.Load())
	if r.to != 0 && last >= r.to {
		last = r.to - 1
	}
	if last < first {
		last = first
	}
	return first, last
}

// reset puts every file back to pending, for the first or a new pass.
func (r *Replay) reset() {
	r.dropPrefetch()
	for _, in := range r.open {
		in.r.Close()
		in.r = nil
	}
	r.open = r.open[:0]
	r.cur = nil
	r.pending = r.pending[:0]
	for _, in := range r.inputs {
		in.gapsSeen = 0
		r.pending = append(r.pending, in)
	}
	heapInit(r.pending, lessPending)
}

// Rewind starts the stream over from the beginning of the selection.
func (r *Replay) Rewind() { r.reset() }

// Next advances to the next event in merge order. It returns false at the
// end of the selection; damaged data never stops it (see OnProblem).
func (r *Replay) Next() bool {
	if in := r.cur; in != nil {
		r.cur = nil
		if r.advance(in) {
			heapFix(r.open, 0, lessOpen)
		} else {
			heapPop(&r.open, lessOpen)
			r.closeInput(in)
		}
	}
	for len(r.pending) > 0 && (len(r.open) == 0 || lessKeyHead(r.pending[0], r.open[0])) {
		in := heapPop(&r.pending, lessPending)
		if r.openInput(in) {
			heapPush(&r.open, in, lessOpen)
		}
	}
	r.prefetch()
	if len(r.open) == 0 {
		return false
	}
	r.cur = r.open[0]
	r.ev = r.cur.r.RawEvent()
	return true
}

// RawEvent returns the current event; its Raw is valid only until the next
// call to Next.
func (r *Replay) RawEvent() event.Event { return r.ev }

// Event returns the current event with its own copy of the bytes.
func (r *Replay) Event() event.Event {
	ev := r.ev
	ev.Raw = bytes.Clone(ev.Raw)
	return ev
}

// Problems returns how many problems were found so far.
func (r *Replay) Problems() int { return r.problems }

// Close closes every open file. The Replay must not be used afterwards.
func (r *Replay) Close() error {
	r.dropPrefetch()
	var errs []error
	for _, in := range r.open {
		if in.r != nil {
			errs = append(errs, in.r.Close())
			in.r = nil
		}
	}
	r.open, r.pending, r.cur = nil, nil, nil
	return errors.Join(errs...)
}

// prefetched is a file opened ahead, positioned at its first record.
type prefetched struct {
	r   *format.Reader
	ok  bool // r.Next() returned true
	err error
}

// openFile opens in with the replay's selection and reads to its first
// record.
func (r *Replay) openFile(in *input) prefetched {
	fr, err := format.Open(in.Path, format.ReadOptions{From: r.from, To: r.to, Filter: r.filter})
	if err != nil {
		return prefetched{err: err}
	}
	return prefetched{r: fr, ok: fr.Next()}
}

// prefetch opens the next file the merge will need in the background, so
// that opening it (allocating a decoder, decompressing up to the first
// selected record) does not hold up a paced replay at the file boundary.
// At most one file is opened ahead.
func (r *Replay) prefetch() {
	if r.pf != nil || len(r.pending) == 0 {
		return
	}
	in := r.pending[0]
	ch := make(chan prefetched, 1)
	r.pf, r.pfCh = in, ch
	r.maxOpen = max(r.maxOpen, len(r.open)+1)
	go func() { ch <- r.openFile(in) }()
}

// dropPrefetch waits for a file opened ahead and closes it.
func (r *Replay) dropPrefetch() {
	if r.pf == nil {
		return
	}
	if res := <-r.pfCh; res.r != nil {
		res.r.Close()
	}
	r.pf, r.pfCh = nil, nil
}

func (r *Replay) openInput(in *input) bool {
	var res prefetched
	if r.pf == in {
		res = <-r.pfCh
		r.pf, r.pfCh = nil, nil
	} else {
		res = r.openFile(in)
	}
	if res.err != nil {
		// The file was readable when probed: it changed or vanished since.
		r.problem(fmt.Errorf("reopen %s: %w", in.Path, res.err))
		return false
	}
	in.r = res.r
	r.opened++
	if in.gapsSeen == 0 {
		r.takeGaps(in)
	}
	if !r.settle(in, res.ok) {
		r.closeInput(in)
		return false
	}
	r.maxOpen = max(r.maxOpen, len(r.open)+1)
	return true
}

// advance moves in to its next record and reports whether there is one.
func (r *Replay) advance(in *input) bool { return r.settle(in, in.r.Next()) }

// settle takes in's reader state after a call to Next that returned ok.
func (r *Replay) settle(in *input, ok bool) bool {
	if ok {
		in.head = in.r.RawEvent().Time
		if !in.Indexed && in.head > in.End {
			in.End = in.head
		}
	}
	if n := len(in.r.Problems()); n > in.reported {
		r.collect(in)
	}
	if n := len(in.r.Gaps()); n > in.gapsSeen {
		r.takeGaps(in)
	}
	return ok
}

func (r *Replay) closeInput(in *input) {
	if err := in.r.Err(); err != nil {
		r.problem(fmt.Errorf("read %s: %w", in.Path, err))
	}
	r.collect(in)
	// A torn tail is what a recording in progress or a crash leaves, not
	// damage: say how much was left out, without counting a problem.
	if d := in.r.Dropped() + in.r.DroppedRaw(); d > 0 && !in.tornSaid {
		in.tornSaid = true
		r.cfg.log.Info("replay: torn tail skipped", "file", in.Path, "bytes", d)
	}
	in.r.Close()
	in.r = nil
}

// collect reports the problems of in's reader not reported yet. Problems
// found again in a later pass are not reported twice.
func (r *Replay) collect(in *input) {
	ps := in.r.Problems()
	for i := in.reported; i < len(ps); i++ {
		r.problem(ps[i])
	}
	in.reported = max(in.reported, len(ps))
}

func (r *Replay) takeGaps(in *input) {
	gs := in.r.Gaps()
	for _, g := range gs[min(in.gapsSeen, len(gs)):] {
		if (r.to != 0 && g.GetStartMs() >= r.to) || (r.from != 0 && g.GetEndMs() < r.from) {
			continue
		}
		r.gaps = append(r.gaps, g)
	}
	in.gapsSeen = len(gs)
}

func (r *Replay) problem(err error) {
	r.problems++
	if len(r.lastErrs) < 3 {
		r.lastErrs = append(r.lastErrs, err)
	}
	if r.deferProblems {
		r.deferred = append(r.deferred, err)
		return
	}
	r.report(err)
}

// report hands a problem to OnProblem, or logs it.
func (r *Replay) report(err error) {
	if r.cfg.onProblem != nil {
		r.cfg.onProblem(err)
		return
	}
	r.cfg.log.Warn("replay: skipped damaged data", "err", err)
}

// ---- heaps ----
//
// Small hand-written binary heaps: container/heap's interface calls cost
// more than the merge itself at millions of events per second.

func lessOpen(a, b *input) bool {
	return a.head < b.head || (a.head == b.head && a.ord < b.ord)
}

func lessPending(a, b *input) bool {
	return a.key < b.key || (a.key == b.key && a.ord < b.ord)
}

// lessKeyHead reports whether pending file p must be opened before the
// open file o yields its head: p's key is a lower bound of its first
// record's time, so opening it whenever (key, ord) sorts first keeps the
// output identical to a merge that opened every file at the start.
func lessKeyHead(p, o *input) bool {
	return p.key < o.head || (p.key == o.head && p.ord < o.ord)
}

func heapInit(h []*input, less func(a, b *input) bool) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		heapFix(h, i, less)
	}
}

// heapFix restores the heap after h[i] grew (sift down).
func heapFix(h []*input, i int, less func(a, b *input) bool) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func heapPush(h *[]*input, x *input, less func(a, b *input) bool) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(s[i], s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func heapPop(h *[]*input, less func(a, b *input) bool) *input {
	s := *h
	x := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = nil
	*h = s[:n]
	if n > 0 {
		heapFix(*h, 0, less)
	}
	return x
}
