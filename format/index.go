package format

import (
	"maps"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// maxKinds bounds event.Kind values counted in fixed arrays.
const maxKinds = 16

// timeRange tracks first, last, min and max event time of a run of records.
type timeRange struct {
	n                     uint64
	first, last, min, max int64
}

func (t *timeRange) add(ms int64) {
	if t.n == 0 {
		t.first, t.min, t.max = ms, ms, ms
	}
	t.last = ms
	t.min = min(t.min, ms)
	t.max = max(t.max, ms)
	t.n++
}

// merge adds the records of o, which come after those of t.
func (t *timeRange) merge(o timeRange) {
	if o.n == 0 {
		return
	}
	if t.n == 0 {
		*t = o
		return
	}
	t.last = o.last
	t.min = min(t.min, o.min)
	t.max = max(t.max, o.max)
	t.n += o.n
}

// indexBuilder accumulates the SegmentIndex while records are written (by
// Writer) or read back (by recovery and verification). Totals cover closed
// frames; the open frame is counted apart until it closes, so a writer can
// drop it after a write error.
type indexBuilder struct {
	frames   []*pb.FrameInfo
	rawBytes uint64
	total    timeRange
	kinds    [maxKinds]uint64
	commands map[string]uint64

	// the open frame
	frame         timeRange
	frameKinds    [maxKinds]uint64
	frameCommands map[string]uint64
	frameFirst    uint64
}

func newIndexBuilder() *indexBuilder {
	return &indexBuilder{commands: map[string]uint64{}, frameCommands: map[string]uint64{}}
}

// events returns the records counted so far, open frame included.
func (b *indexBuilder) events() uint64 { return b.total.n + b.frame.n }

// firstTime and lastTime are the times of the first and last record so
// far, in file order.
func (b *indexBuilder) firstTime() int64 {
	if b.total.n > 0 {
		return b.total.first
	}
	return b.frame.first
}

func (b *indexBuilder) lastTime() int64 {
	if b.frame.n > 0 {
		return b.frame.last
	}
	return b.total.last
}

// add counts one record of the open frame.
func (b *indexBuilder) add(ev *event.Event) {
	b.frame.add(ev.Time)
	k := ev.Kind
	if int(k) >= maxKinds {
		k = event.Unknown
	}
	b.frameKinds[k]++
	if ev.Kind == event.NetMsg {
		b.frameCommands[ev.Type]++
	}
}

// closeFrame records the open frame at offset with its sizes and starts a
// new one.
func (b *indexBuilder) closeFrame(offset, compressed, raw int64) *pb.FrameInfo {
	fi := &pb.FrameInfo{
		Offset:        uint64(offset),
		CompressedLen: uint64(compressed),
		RawLen:        uint64(raw),
		Events:        b.frame.n,
		FirstEvent:    b.frameFirst,
		Kinds:         kindMap(&b.frameKinds),
	}
	if b.frame.n > 0 {
		fi.FirstTimeMs, fi.LastTimeMs, fi.MinTimeMs, fi.MaxTimeMs = b.frame.first, b.frame.last, b.frame.min, b.frame.max
	}
	if len(b.frameCommands) > 0 {
		fi.Commands = b.frameCommands
		b.frameCommands = map[string]uint64{}
	}
	b.addClosed(fi)
	return fi
}

// addClosed appends a closed frame and adds it to the totals.
func (b *indexBuilder) addClosed(fi *pb.FrameInfo) {
	b.frames = append(b.frames, fi)
	b.rawBytes += fi.RawLen
	b.frameFirst += fi.Events
	if fi.Events > 0 {
		b.total.merge(timeRange{n: fi.Events, first: fi.FirstTimeMs, last: fi.LastTimeMs, min: fi.MinTimeMs, max: fi.MaxTimeMs})
	}
	for name, n := range fi.Kinds {
		k, err := event.ParseKind(name)
		if err != nil || int(k) >= maxKinds {
			k = event.Unknown
		}
		b.kinds[k] += n
	}
	for c, n := range fi.Commands {
		b.commands[c] += n
	}
	b.frame = timeRange{}
	b.frameKinds = [maxKinds]uint64{}
}

// dropOpenFrame forgets the records of the open frame, as if they had never
// been added: the writer cuts an unfinished frame off after a write error.
func (b *indexBuilder) dropOpenFrame() {
	b.frame = timeRange{}
	b.frameKinds = [maxKinds]uint64{}
	clear(b.frameCommands)
}

// finish returns the index of the closed frames so far.
func (b *indexBuilder) finish(meta *pb.SegmentMeta, headerLen int) *pb.SegmentIndex {
	idx := &pb.SegmentIndex{Frames: append([]*pb.FrameInfo(nil), b.frames...), RawBytes: b.rawBytes}
	idx.Events = b.total.n
	if b.total.n > 0 {
		idx.FirstTimeMs, idx.LastTimeMs, idx.MinTimeMs, idx.MaxTimeMs = b.total.first, b.total.last, b.total.min, b.total.max
	}
	idx.Kinds = kindMap(&b.kinds)
	if len(b.commands) > 0 {
		idx.Commands = maps.Clone(b.commands)
	}
	idx.HeaderLen = uint64(headerLen)
	idx.Meta = meta
	return idx
}

func kindMap(counts *[maxKinds]uint64) map[string]uint64 {
	var m map[string]uint64
	for k, n := range counts {
		if n == 0 {
			continue
		}
		if m == nil {
			m = map[string]uint64{}
		}
		m[event.Kind(k).String()] = n
	}
	return m
}
