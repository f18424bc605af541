package format

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// Format identifies the kind of file a Reader reads.
type Format int

// File formats a Reader understands.
const (
	// FormatSegment is a peertape segment, complete or .partial.
	FormatSegment Format = iota + 1
	// FormatUpstream is a peer-observer archive compressed with zstd
	// (.bin.zst): one zstd stream of a length-delimited ArchiveHeader and
	// length-delimited events.
	FormatUpstream
	// FormatUpstreamRaw is an uncompressed peer-observer archive (.bin).
	FormatUpstreamRaw
)

func (f Format) String() string {
	switch f {
	case FormatSegment:
		return fmt.Sprintf("peertape v%d", FormatVersion)
	case FormatUpstream:
		return "peer-observer (zstd)"
	case FormatUpstreamRaw:
		return "peer-observer (uncompressed)"
	}
	return "unknown"
}

// Upstream reports whether f is one of peer-observer's archive formats.
func (f Format) Upstream() bool { return f == FormatUpstream || f == FormatUpstreamRaw }

// ReadOptions select what a Reader returns. The zero value returns every
// record.
type ReadOptions struct {
	// From (inclusive) and To (exclusive) bound event times in ms; 0 means
	// unbounded. With an index, frames entirely outside the range are not
	// decoded; records are always checked individually, so the result is
	// exactly what a full scan with this filter returns.
	From, To int64
	// Filter selects kinds and types; frames holding none of the selected
	// kinds are skipped with an index.
	Filter *event.Filter
	// Node names the node on every event; default the segment's metadata,
	// or for peer-observer archives the part of the file name before the
	// first dot.
	Node string
	// NoIndex ignores the index and scans the file frame by frame, as for
	// a .partial (used by verification and recovery).
	NoIndex bool
	// OnFrame, when set, is called in indexed mode before each planned
	// data frame is decoded, in file order; returning true skips the frame
	// (a caller that has copied it verbatim with Writer.CopyFrame).
	OnFrame func(i int, fi *pb.FrameInfo) (skip bool)
	// Raw makes Next only frame records, without classifying them, for
	// readers that move bytes (digests, raw dumps): Record returns the
	// bytes, and Event and RawEvent classify on demand, so a malformed
	// record is reported only then. It cannot be combined with From, To or
	// Filter, which need classification.
	Raw bool
}

func (o *ReadOptions) match(ev *event.Event) bool {
	if o.From != 0 && ev.Time < o.From {
		return false
	}
	if o.To != 0 && ev.Time >= o.To {
		return false
	}
	return o.Filter.Match(*ev)
}

// Reader iterates the records of one file in file order:
//
//	r, err := format.Open(path)
//	for r.Next() { ev := r.Event() ... }
//	err = r.Err()
//
// Damage does not stop it: a corrupt frame is recorded in Problems and
// reading resumes at the next frame; a torn tail ends the file cleanly and
// its size is in Dropped. Err reports only failures to read the file at
// all. A Reader is not safe for concurrent use.
type Reader struct {
	path   string
	f      *os.File
	size   int64
	format Format
	opts   ReadOptions
	node   string

	meta     *pb.SegmentMeta
	header   *pb.ArchiveHeader
	index    *pb.SegmentIndex // without per-frame maps until fullIndex
	indexRaw []byte           // index frame content, for fullIndex
	indexOff int64
	complete bool
	gaps     []*pb.Gap

	dec *zstd.Decoder
	src *bufio.Reader // buffers the compressed frame for dec
	rr  recordReader

	// segment iteration
	plan      []int // indexed mode: ordinals of the frames still to read
	scanPos   int64 // scan mode: next file offset
	scanning  bool
	scanned   *indexBuilder // scan mode: index rebuilt from what was read
	frameNo   int           // ordinal of the current data frame
	frameOff  int64         // file offset of the current data frame
	inFrame   bool
	frameScan frameScan
	rawCount  countingReader
	sawHeader bool
	headerLen int
	done      bool

	ev         event.Event
	rec        []byte // current record
	classified bool   // ev describes rec
	problems   []*CorruptError
	dropped    int64 // file bytes of a torn tail
	droppedRaw int64 // decompressed bytes of a record cut by the tail
	err        error
}

// countingReader counts decompressed bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Open opens a segment (complete or .partial) or a peer-observer archive,
// recognised by content, not by name.
func Open(path string, opts ...ReadOptions) (*Reader, error) {
	r := &Reader{path: path, frameNo: -1}
	if len(opts) > 0 {
		r.opts = opts[0]
	}
	if r.opts.Raw && (r.opts.From != 0 || r.opts.To != 0 || !r.opts.Filter.Empty()) {
		return nil, fmt.Errorf("%s: raw reading cannot select by time or kind", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: is a directory, not an archive file", path)
	}
	r.f, r.size = f, st.Size()
	if err := r.open(); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func (r *Reader) open() error {
	if r.size == 0 {
		return fmt.Errorf("%s: empty file", r.path)
	}
	var magic [4]byte
	n, _ := r.f.ReadAt(magic[:], 0)
	m := binary.LittleEndian.Uint32(magic[:])
	switch {
	case n == 4 && m&skippableMask == skippableMagic&skippableMask && r.isSegment():
		r.format = FormatSegment
		return r.openSegment()
	case n == 4 && m == zstdMagic:
		r.format = FormatUpstream
		return r.openUpstream()
	default:
		r.format = FormatUpstreamRaw
		return r.openUpstream()
	}
}

func (r *Reader) isSegment() bool {
	var b [12]byte
	n, _ := r.f.ReadAt(b[:], 0)
	return n == 12 && string(b[8:12]) == tagMeta
}

func (r *Reader) newDecoder() error {
	if r.dec != nil {
		return nil
	}
	dec, err := getDecoder()
	if err != nil {
		return err
	}
	r.dec = dec
	return nil
}

// decoders are reused across Readers: a decoder's history buffers cost
// more to allocate and zero than a small file costs to read, which
// dominated replays of many small files.
var decoders sync.Pool

func getDecoder() (*zstd.Decoder, error) {
	if d, ok := decoders.Get().(*zstd.Decoder); ok {
		return d, nil
	}
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(1<<30),
		zstd.WithDecoderLowmem(false))
}

// putDecoder returns d to the pool, dropping its reference to the last
// input so a closed file is not kept reachable.
func putDecoder(d *zstd.Decoder) {
	d.Reset(bytes.NewReader(nil))
	decoders.Put(d)
}

// srcBufSize is the read-ahead on compressed frame bytes. The decoder
// reads a frame header byte by byte and each block as a 3-byte header and
// its body; unbuffered, that was two preads per block, and with 1 s
// flushes a 16 MiB frame holds hundreds of small blocks (11% of a seek's
// CPU was pread). 64 KiB holds a few blocks without reading far past the
// record a seek stops at.
const srcBufSize = 64 << 10

var srcBufs sync.Pool

// frameSource returns src buffered, reusing the Reader's buffer.
func (r *Reader) frameSource(src io.Reader) io.Reader {
	if r.src == nil {
		if b, ok := srcBufs.Get().(*bufio.Reader); ok {
			r.src = b
		} else {
			r.src = bufio.NewReaderSize(nil, srcBufSize)
		}
	}
	r.src.Reset(src)
	return r.src
}

func (r *Reader) problem(frame int, off, rawOff int64, err error) {
	r.problems = append(r.problems, &CorruptError{Path: r.path, Frame: frame, Offset: off, RawOffset: rawOff, Err: err})
}

// readSkippable reads the skippable frame at off and returns its content
// and the offset after it.
func (r *Reader) readSkippable(off int64) ([]byte, int64, error) {
	var h [8]byte
	if _, err := r.f.ReadAt(h[:], off); err != nil {
		return nil, 0, err
	}
	size := int64(binary.LittleEndian.Uint32(h[4:]))
	end := off + 8 + size
	if end > r.size {
		return nil, 0, io.ErrUnexpectedEOF
	}
	if size > maxSkippable {
		return nil, end, fmt.Errorf("skippable frame of %d bytes", size)
	}
	buf := make([]byte, size)
	if _, err := r.f.ReadAt(buf, off+8); err != nil {
		return nil, 0, err
	}
	return buf, end, nil
}

func (r *Reader) openSegment() error {
	if err := r.newDecoder(); err != nil {
		return err
	}
	content, end, err := r.readSkippable(0)
	r.meta = &pb.SegmentMeta{}
	if err == nil {
		err = parseSkippableContent(content, tagMeta, r.meta)
	}
	if err != nil {
		if end == 0 {
			return fmt.Errorf("%s: segment metadata: %w", r.path, err)
		}
		r.problem(-1, 0, -1, fmt.Errorf("segment metadata: %w", err))
		r.meta = &pb.SegmentMeta{}
	}
	r.scanPos = end
	if !r.opts.NoIndex {
		r.loadIndex(end)
	}
	if r.index != nil {
		if r.index.Meta != nil {
			r.meta = r.index.Meta
		}
		r.gaps = r.index.Gaps
		r.planFrames()
	} else {
		r.scanning = true
		r.scanned = newIndexBuilder()
	}
	r.node = r.opts.Node
	if r.node == "" {
		r.node = r.meta.Node
	}
	r.header = &pb.ArchiveHeader{Created: proto.Uint64(uint64(r.meta.CreatedMs / 1000))}
	if r.meta.LowData {
		r.header.LowData = proto.Bool(true)
	}
	return nil
}

// loadIndex reads the trailer and index; on any inconsistency the file is
// read by scanning instead, and a damaged trailer or index is a problem.
func (r *Reader) loadIndex(dataStart int64) {
	if r.size < dataStart+trailerSize {
		return
	}
	// One pread for the trailer and, nearly always, the index before it.
	tb0 := tailBufs.Get().(*[]byte)
	defer tailBufs.Put(tb0)
	tail := (*tb0)[:min(r.size-dataStart, indexTail)]
	tailOff := r.size - int64(len(tail))
	if _, err := r.f.ReadAt(tail, tailOff); err != nil {
		return
	}
	tb := tail[len(tail)-trailerSize:]
	if binary.LittleEndian.Uint32(tb) != skippableMagic || string(tb[8:12]) != tagTrailer {
		return // no trailer: a .partial, or a tail that is not ours
	}
	off, l, err := parseTrailer(tb)
	if err != nil {
		r.problem(-1, r.size-trailerSize, -1, err)
		return
	}
	if off < dataStart || off+int64(l) != r.size-trailerSize {
		r.problem(-1, r.size-trailerSize, -1, fmt.Errorf("trailer points at index %d+%d, outside the file", off, l))
		return
	}
	var content []byte
	if off >= tailOff && l >= 8 {
		content = bytes.Clone(tail[off-tailOff+8 : off-tailOff+int64(l)]) // tail goes back to the pool
		if binary.LittleEndian.Uint32(tail[off-tailOff:]) != skippableMagic ||
			int64(binary.LittleEndian.Uint32(tail[off-tailOff+4:])) != int64(l)-8 {
			content = nil // not the frame the trailer promises: let readSkippable say why
		}
	}
	if content == nil {
		content, _, err = r.readSkippable(off)
	}
	var idx *pb.SegmentIndex
	if err == nil {
		idx, err = parseIndexLite(content)
	}
	if err != nil {
		r.problem(-1, off, -1, fmt.Errorf("index: %w", err))
		return
	}
	for i, fi := range idx.Frames {
		if int64(fi.Offset) < dataStart || int64(fi.Offset+fi.CompressedLen) > off {
			r.problem(-1, off, -1, fmt.Errorf("index: frame %d at %d+%d lies outside the data", i, fi.Offset, fi.CompressedLen))
			return
		}
	}
	r.index = idx
	r.indexRaw = content
	r.indexOff = off
	r.complete = true
	if !r.opts.Filter.Empty() || r.opts.OnFrame != nil {
		r.fullIndex() // frames are chosen by kind, or handed to the caller
	}
}

// indexTail is how much of a segment's end Open reads at once: the
// trailer and the index of a segment of up to ~80 frames (a 1 h synth
// segment at 1,300 events/s has 47 and a 17 KB index); larger indexes
// take a second read.
const indexTail = 32 << 10

// tailBufs saves a fresh buffer (and its page faults) per file opened.
var tailBufs = sync.Pool{New: func() any { b := make([]byte, indexTail); return &b }}

// fullIndex replaces the lite index with the complete one. An index whose
// maps do not decode (its checksum matched, so the writer wrote them) is
// a problem; the lite index stays.
func (r *Reader) fullIndex() *pb.SegmentIndex {
	if r.indexRaw == nil {
		return r.index
	}
	content := r.indexRaw
	r.indexRaw = nil
	idx := &pb.SegmentIndex{}
	if err := parseSkippableContent(content, tagIndex, idx); err != nil {
		r.problem(-1, r.indexOff, -1, fmt.Errorf("index: %w", err))
		return r.index
	}
	if len(idx.Frames) != len(r.index.Frames) {
		r.problem(-1, r.indexOff, -1, fmt.Errorf("index: %d frames, %d without their maps", len(idx.Frames), len(r.index.Frames)))
		return r.index
	}
	r.index = idx
	return idx
}

// planFrames lists the indexed frames that can hold selected records.
func (r *Reader) planFrames() {
	o := &r.opts
	for i, fi := range r.index.Frames {
		if fi.Events == 0 && i != 0 {
			continue
		}
		if fi.Events > 0 {
			if o.To != 0 && fi.MinTimeMs >= o.To {
				continue
			}
			if o.From != 0 && fi.MaxTimeMs < o.From {
				continue
			}
			if !o.Filter.Empty() && !anyKindMatches(o.Filter, fi.Kinds) {
				continue
			}
		} else if o.From != 0 || o.To != 0 || !o.Filter.Empty() {
			continue
		}
		r.plan = append(r.plan, i)
	}
}

func anyKindMatches(f *event.Filter, kinds map[string]uint64) bool {
	for name := range kinds {
		k, err := event.ParseKind(name)
		if err != nil || f.MatchKind(k) {
			return true
		}
	}
	return false
}

// Path returns the file's path.
func (r *Reader) Path() string { return r.path }

// Format returns what kind of file this is.
func (r *Reader) Format() Format { return r.format }

// Meta returns the segment metadata. For peer-observer archives it is
// derived from the header and file name.
func (r *Reader) Meta() *pb.SegmentMeta { return r.meta }

// Header returns the archive header (for segments, as `zstd -dc` shows it).
func (r *Reader) Header() *pb.ArchiveHeader { return r.header }

// Index returns the segment index, or nil when the file has none (a
// .partial, a damaged segment, an upstream archive) or NoIndex was set.
func (r *Reader) Index() *pb.SegmentIndex { return r.fullIndex() }

// Complete reports whether the file was finished properly: a segment with
// a valid index and trailer, or an upstream archive that (once read to the
// end) ended at a record boundary after complete frames.
func (r *Reader) Complete() bool { return r.complete }

// Gaps returns the recorded outages: from the index, or from notes seen so
// far while scanning.
func (r *Reader) Gaps() []*pb.Gap { return r.gaps }

// Problems returns the damage found so far.
func (r *Reader) Problems() []*CorruptError { return r.problems }

// Dropped returns the file bytes of a torn tail that could not be read:
// an unfinished zstd block or frame, or trailing bytes.
func (r *Reader) Dropped() int64 { return r.dropped }

// DroppedRaw returns the decompressed bytes of a record cut short by a
// torn tail.
func (r *Reader) DroppedRaw() int64 { return r.droppedRaw }

// Err returns the error that stopped reading, if any (not damage, which is
// in Problems).
func (r *Reader) Err() error { return r.err }

// Frame returns the ordinal of the data frame the current record is in.
func (r *Reader) Frame() int { return r.frameNo }

// Offset returns the file offset of the data frame of the current record.
func (r *Reader) Offset() int64 { return r.frameOff }

// Size returns the size of the file when it was opened.
func (r *Reader) Size() int64 { return r.size }

// ScannedIndex returns the index rebuilt while scanning a file without a
// usable index. It is complete only after the whole file was read with no
// time range or filter; nil for indexed files.
func (r *Reader) ScannedIndex() *pb.SegmentIndex {
	if r.scanned == nil {
		return nil
	}
	idx := r.scanned.finish(r.meta, r.headerLen)
	idx.Gaps = r.gaps
	return idx
}

// Event returns the current event with its own copy of the bytes.
func (r *Reader) Event() event.Event {
	ev := r.RawEvent()
	ev.Raw = bytes.Clone(ev.Raw)
	return ev
}

// RawEvent returns the current event; its Raw is valid only until the next
// call to Next. Use it to avoid a copy when the bytes are not kept.
func (r *Reader) RawEvent() event.Event {
	if !r.classified {
		r.classified = true
		ev, err := event.Parse(r.rec)
		if err != nil {
			r.problem(r.frameNo, r.frameOff, -1, fmt.Errorf("record: %w", err))
		}
		ev.Node = r.node
		r.ev = ev
	}
	return r.ev
}

// Record returns the bytes of the current record, valid until the next
// call to Next.
func (r *Reader) Record() []byte { return r.rec }

// Close releases the file.
func (r *Reader) Close() error {
	if r.dec != nil {
		putDecoder(r.dec)
		r.dec = nil
	}
	if r.src != nil {
		r.src.Reset(nil)
		srcBufs.Put(r.src)
		r.src = nil
	}
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Next advances to the next selected record.
func (r *Reader) Next() bool {
	if r.format != FormatSegment {
		return r.nextUpstream()
	}
	for !r.done && r.err == nil {
		if !r.inFrame && !r.nextFrame() {
			r.done = true
			return false
		}
		rec, err := r.rr.next()
		if err != nil {
			r.endFrame(err)
			continue
		}
		if r.frameNo == 0 && !r.sawHeader {
			r.sawHeader = true
			h := &pb.ArchiveHeader{}
			if err := proto.Unmarshal(rec, h); err == nil {
				r.header = h
				r.headerLen = int(r.rr.n)
				continue
			}
			r.problem(r.frameNo, r.frameOff, 0, fmt.Errorf("first record is not an ArchiveHeader"))
		}
		if r.opts.Raw && r.scanned == nil {
			r.rec, r.classified = rec, false
			return true
		}
		if r.scanned == nil && r.outsideRange(rec) {
			continue
		}
		ev, err := event.Parse(rec)
		if err != nil {
			r.problem(r.frameNo, r.frameOff, r.rawCount.n, fmt.Errorf("record: %w", err))
			continue
		}
		ev.Node = r.node
		if r.scanned != nil {
			r.scanned.add(&ev)
		}
		if r.opts.match(&ev) {
			r.ev, r.rec, r.classified = ev, rec, true
			return true
		}
	}
	return false
}

// nextFrame positions the record reader at the next data frame to read.
func (r *Reader) nextFrame() bool {
	if !r.scanning {
		for len(r.plan) > 0 && r.opts.OnFrame != nil && r.opts.OnFrame(r.plan[0], r.index.Frames[r.plan[0]]) {
			r.plan = r.plan[1:]
		}
		if len(r.plan) == 0 {
			return false
		}
		r.frameNo = r.plan[0]
		r.plan = r.plan[1:]
		fi := r.index.Frames[r.frameNo]
		r.frameOff = int64(fi.Offset)
		r.frameScan = frameScan{off: int64(fi.Offset), end: int64(fi.Offset + fi.CompressedLen), complete: true}
		r.sawHeader = r.frameNo != 0
		return r.startFrame()
	}
	for r.scanPos < r.size {
		pos := r.scanPos
		var h [8]byte
		n, _ := r.f.ReadAt(h[:], pos)
		if n < 8 {
			if n >= 4 && binary.LittleEndian.Uint32(h[:]) != zstdMagic && binary.LittleEndian.Uint32(h[:])&skippableMask != skippableMagic&skippableMask {
				r.problem(-1, pos, -1, fmt.Errorf("%d trailing bytes that are not a frame", r.size-pos))
			}
			r.dropped += r.size - pos
			r.scanPos = r.size
			return false
		}
		magic := binary.LittleEndian.Uint32(h[:])
		switch {
		case magic&skippableMask == skippableMagic&skippableMask:
			content, end, err := r.readSkippable(pos)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				r.dropped += r.size - pos // torn while writing index or note
				r.scanPos = r.size
				return false
			}
			if err != nil {
				r.problem(-1, pos, -1, err)
			} else {
				r.takeNote(pos, content)
			}
			r.scanPos = end
		case magic == zstdMagic:
			fs, err := scanFrame(r.f, pos, r.size)
			if err != nil {
				r.problem(r.frameNo+1, pos, -1, fmt.Errorf("frame header: %w", err))
				r.resync(pos + 1)
				continue
			}
			r.frameNo++
			r.frameOff = pos
			r.frameScan = fs
			if fs.complete {
				r.scanPos = fs.end
			} else {
				// Either the file ends inside this frame (a torn tail) or a
				// block header is damaged. Decode the complete blocks, then
				// look for a later frame.
				r.scanPos = fs.blocksEnd
			}
			return r.startFrame()
		default:
			r.problem(-1, pos, -1, fmt.Errorf("bytes %08x are not a frame", magic))
			r.resync(pos + 1)
		}
	}
	return false
}

// takeNote applies a peertape skippable frame met while scanning.
func (r *Reader) takeNote(off int64, content []byte) {
	if len(content) < 4 {
		return
	}
	switch string(content[:4]) {
	case tagNote:
		n := &pb.Note{}
		if err := parseSkippableContent(content, tagNote, n); err != nil {
			r.problem(-1, off, -1, err)
			return
		}
		switch x := n.Note.(type) {
		case *pb.Note_Gap:
			r.gaps = append(r.gaps, x.Gap)
		case *pb.Note_Meta:
			r.meta = x.Meta
		}
	case tagIndex, tagTrailer:
		// A scan reaches the index of a file whose trailer was unusable.
	}
}

// resync finds the next frame magic at or after from and continues there,
// or ends the scan.
func (r *Reader) resync(from int64) {
	next := findMagic(r.f, from, r.size)
	if next < 0 {
		r.dropped += r.size - from + 1
		r.scanPos = r.size
		return
	}
	r.scanPos = next
}

// findMagic returns the offset of the next zstd frame or peertape
// skippable frame at or after from, or -1.
func findMagic(ra io.ReaderAt, from, limit int64) int64 {
	const chunk = 64 << 10
	buf := make([]byte, chunk+16)
	for off := from; off < limit; off += chunk {
		n, _ := ra.ReadAt(buf[:min(int64(len(buf)), limit-off)], off)
		for i := 0; i+4 <= n; i++ {
			m := binary.LittleEndian.Uint32(buf[i:])
			switch {
			case m == zstdMagic:
				if _, err := parseZHeader(buf[i:n]); err == nil {
					return off + int64(i)
				}
			case m == skippableMagic && i+12 <= n:
				if t := string(buf[i+8 : i+12]); t == tagNote || t == tagIndex || t == tagTrailer || t == tagMeta {
					return off + int64(i)
				}
			}
		}
	}
	return -1
}

func (r *Reader) startFrame() bool {
	if err := r.dec.Reset(r.frameSource(r.frameScan.source(r.f))); err != nil {
		r.problem(r.frameNo, r.frameOff, -1, err)
		r.endFrame(nil)
		return r.nextFrame()
	}
	r.rawCount = countingReader{r: r.dec}
	r.rr.reset(&r.rawCount)
	r.inFrame = true
	return true
}

// endFrame finishes the current frame after err (io.EOF at a clean end).
func (r *Reader) endFrame(err error) {
	r.inFrame = false
	fs := r.frameScan
	switch {
	case err == io.EOF:
	case errors.Is(err, io.ErrUnexpectedEOF) && !fs.complete && fs.corrupt == nil:
		// A record cut by the torn tail: not damage, just unfinished.
		r.droppedRaw += r.rawCount.n - r.rr.n
	default:
		r.problem(r.frameNo, r.frameOff, r.rr.n, err)
	}
	if !r.scanning {
		return
	}
	end := fs.end
	if !fs.complete {
		end = fs.blocksEnd
	}
	r.scanned.closeFrame(fs.off, end-fs.off, r.rawCount.n)
	if fs.complete {
		return
	}
	if fs.corrupt != nil {
		r.problem(r.frameNo, r.frameOff, -1, fs.corrupt)
		r.resync(fs.blocksEnd)
		return
	}
	// Torn: the rest of the file is the unfinished tail, unless a later
	// frame follows (then a block header was damaged).
	if next := findMagic(r.f, fs.blocksEnd, r.size); next >= 0 {
		r.problem(r.frameNo, r.frameOff, -1, fmt.Errorf("frame damaged at offset %d; resuming at %d", fs.blocksEnd, next))
		r.scanPos = next
		return
	}
	r.dropped += r.size - fs.blocksEnd
	r.scanPos = r.size
}

// ---- peer-observer archives ----

func (r *Reader) openUpstream() error {
	var src io.Reader
	if r.format == FormatUpstream {
		if err := r.newDecoder(); err != nil {
			return err
		}
		src = &frameChain{r: r}
	} else {
		src = io.NewSectionReader(r.f, 0, r.size)
	}
	r.rawCount = countingReader{r: src}
	r.rr.reset(&r.rawCount)
	rec, err := r.rr.next()
	if err != nil {
		if err == io.EOF {
			err = errors.New("missing header")
		}
		return fmt.Errorf("%s: not a peertape segment or peer-observer archive: %w", r.path, err)
	}
	h := &pb.ArchiveHeader{}
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(rec, h); err != nil || h.Created == nil {
		return fmt.Errorf("%s: not a peertape segment or peer-observer archive (first record is not an ArchiveHeader)", r.path)
	}
	r.header = h
	r.sawHeader = true
	r.headerLen = int(r.rr.n)
	r.scanned = newIndexBuilder()
	base := filepath.Base(r.path)
	r.node = r.opts.Node
	if r.node == "" {
		r.node, _, _ = strings.Cut(base, ".")
	}
	r.meta = &pb.SegmentMeta{
		Node:         r.node,
		Source:       "peer-observer archive",
		Recorder:     "peer-observer archiver",
		CreatedMs:    int64(h.GetCreated()) * 1000,
		LowData:      h.GetLowData(),
		UpstreamFile: base,
	}
	if r.format == FormatUpstream {
		r.meta.CompressionLevel = -1 // unknown
	}
	r.frameNo, r.frameOff = 0, 0
	return nil
}

func (r *Reader) nextUpstream() bool {
	for !r.done && r.err == nil {
		rec, err := r.rr.next()
		if err != nil {
			r.done = true
			// The archive is one pseudo-frame: close it so the scanned
			// index (info, verify) counts its records.
			r.scanned.closeFrame(0, r.size, r.rawCount.n)
			var chainErr *CorruptError
			switch {
			case err == io.EOF:
				r.complete = !r.chainTorn()
			case errors.Is(err, io.ErrUnexpectedEOF):
				r.droppedRaw += r.rawCount.n - r.rr.n
				r.complete = false
			case errors.As(err, &chainErr):
				r.problems = append(r.problems, chainErr)
			default:
				r.problem(0, 0, r.rr.n, err)
			}
			return false
		}
		ev, err := event.Parse(rec)
		if err != nil {
			r.problem(0, 0, r.rr.n-int64(len(rec)), fmt.Errorf("record: %w", err))
			continue
		}
		ev.Node = r.node
		r.scanned.add(&ev)
		if r.opts.match(&ev) {
			r.ev, r.rec, r.classified = ev, rec, true
			return true
		}
	}
	return false
}

// upstreamFrames returns how many zstd frames of an upstream archive were
// decoded.
func (r *Reader) upstreamFrames() int {
	if fc, ok := r.rawCount.r.(*frameChain); ok {
		return fc.frames
	}
	return 0
}

func (r *Reader) chainTorn() bool {
	if fc, ok := r.rawCount.r.(*frameChain); ok {
		return fc.torn
	}
	return false
}

// frameChain decodes the zstd frames of an upstream archive back to back:
// records may span frames there. It skips skippable frames and stops after
// a torn frame, counting the bytes it could not use.
type frameChain struct {
	r      *Reader
	pos    int64
	active bool
	fs     frameScan
	torn   bool
	frames int
}

func (c *frameChain) Read(p []byte) (int, error) {
	r := c.r
	for {
		if !c.active {
			if c.pos >= r.size || c.torn {
				return 0, io.EOF
			}
			var h [8]byte
			n, _ := r.f.ReadAt(h[:], c.pos)
			if n >= 8 && binary.LittleEndian.Uint32(h[:])&skippableMask == skippableMagic&skippableMask {
				c.pos += 8 + int64(binary.LittleEndian.Uint32(h[4:]))
				continue
			}
			fs, err := scanFrame(r.f, c.pos, r.size)
			if err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					r.dropped += r.size - c.pos
					c.torn = true
					return 0, io.EOF
				}
				return 0, &CorruptError{Path: r.path, Frame: -1, Offset: c.pos, RawOffset: -1, Err: err}
			}
			if fs.corrupt != nil {
				return 0, &CorruptError{Path: r.path, Frame: -1, Offset: c.pos, RawOffset: -1, Err: fs.corrupt}
			}
			if err := r.dec.Reset(r.frameSource(fs.source(r.f))); err != nil {
				return 0, &CorruptError{Path: r.path, Frame: -1, Offset: c.pos, RawOffset: -1, Err: err}
			}
			c.fs, c.active = fs, true
			c.frames++
		}
		n, err := r.dec.Read(p)
		if err == io.EOF {
			c.active = false
			if c.fs.complete {
				c.pos = c.fs.end
			} else {
				r.dropped += r.size - c.fs.blocksEnd
				c.torn = true
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			return n, &CorruptError{Path: r.path, Frame: -1, Offset: c.fs.off, RawOffset: -1, Err: err}
		}
		return n, nil
	}
}
