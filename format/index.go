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

// indexBuilder accumulates the SegmentIndex while records are written (by
// Writer) or read back (by recovery and verification).
type indexBuilder struct {
	frames   []*pb.FrameInfo
	rawBytes uint64
	total    timeRange
	kinds    [maxKinds]uint64
	commands map[string]uint64

	// the open frame
	frame      timeRange
	frameKinds [maxKinds]uint64
	frameFirst uint64

	// totals as of the last closed frame, for dropOpenFrame
	closedTotal    timeRange
	closedCommands map[string]uint64
}

func newIndexBuilder() *indexBuilder {
	return &indexBuilder{commands: map[string]uint64{}}
}

// add counts one record of the open frame.
func (b *indexBuilder) add(ev *event.Event) {
	b.total.add(ev.Time)
	b.frame.add(ev.Time)
	k := ev.Kind
	if int(k) >= maxKinds {
		k = event.Unknown
	}
	b.kinds[k]++
	b.frameKinds[k]++
	if ev.Kind == event.NetMsg {
		b.commands[ev.Type]++
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
	b.frames = append(b.frames, fi)
	b.rawBytes += uint64(raw)
	b.frameFirst += b.frame.n
	b.frame = timeRange{}
	b.frameKinds = [maxKinds]uint64{}
	b.closedTotal = b.total
	b.closedCommands = maps.Clone(b.commands)
	return fi
}

// dropOpenFrame forgets the records of the open frame, totals included,
// as if they had never been added: the writer cuts an unfinished frame
// off after a write error.
func (b *indexBuilder) dropOpenFrame() {
	for k, n := range b.frameKinds {
		b.kinds[k] -= n
	}
	b.total = b.closedTotal
	b.commands = maps.Clone(b.closedCommands)
	if b.commands == nil {
		b.commands = map[string]uint64{}
	}
	b.frame = timeRange{}
	b.frameKinds = [maxKinds]uint64{}
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
		idx.Commands = make(map[string]uint64, len(b.commands))
		for c, n := range b.commands {
			idx.Commands[c] = n
		}
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
