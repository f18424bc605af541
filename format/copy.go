package format

import (
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// ErrNotCopyable is returned by CopyFrame for a frame that cannot be
// copied verbatim; the caller then copies its records one by one.
var ErrNotCopyable = errors.New("frame cannot be copied verbatim")

// CopyFrame appends data frame i of src to the segment as it is stored:
// no recompression, so editing tools (filter, merge, split) move whole
// frames at disk speed. The frame is decompressed once to check its
// content checksum and record count, so damage is never copied. It closes
// the writer's open frame first.
//
// Only frames of complete segments can be copied, except frame 0 (it
// opens with the source's ArchiveHeader) and frames of segments written
// before per-frame message-type counts existed; those give ErrNotCopyable.
func (w *Writer) CopyFrame(src *Reader, i int) error {
	idx := src.Index()
	if src.Format() != FormatSegment || idx == nil || i <= 0 || i >= len(idx.Frames) {
		return ErrNotCopyable
	}
	fi := idx.Frames[i]
	if fi.Events == 0 || (fi.Kinds[event.NetMsg.String()] > 0 && len(fi.Commands) == 0) {
		return ErrNotCopyable
	}
	if err := checkFrame(src, fi); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("segment %s: copy after close", w.path)
	}
	if w.err != nil {
		return w.err
	}
	if w.frameOpen {
		if err := w.closeFrame(); err != nil {
			return err
		}
	}
	start := w.cw.n
	n, err := io.Copy(&w.cw, io.NewSectionReader(src.f, int64(fi.Offset), int64(fi.CompressedLen)))
	if err != nil || n != int64(fi.CompressedLen) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return w.fail(fmt.Errorf("copy frame %d of %s: %w", i, src.Path(), err))
	}
	cp := proto.Clone(fi).(*pb.FrameInfo)
	cp.Offset = uint64(start)
	cp.FirstEvent = w.idx.frameFirst
	w.idx.addClosed(cp)
	w.goodEnd = w.cw.n
	w.lastFlushEv = fi.LastTimeMs
	w.unsynced = true
	if w.o.Hooks.FrameClosed != nil {
		w.o.Hooks.FrameClosed(cp)
	}
	if err := w.writeNotes(); err != nil {
		return err
	}
	return w.maybeSync(false)
}

// checkFrame decompresses an indexed frame, checking its content checksum
// and that it holds the records the index says, without classifying them.
func checkFrame(src *Reader, fi *pb.FrameInfo) error {
	dec, err := getDecoder()
	if err != nil {
		return err
	}
	defer putDecoder(dec)
	fs := frameScan{off: int64(fi.Offset), end: int64(fi.Offset + fi.CompressedLen), complete: true}
	if err := dec.Reset(fs.source(src.f)); err != nil {
		return &CorruptError{Path: src.Path(), Frame: -1, Offset: fs.off, RawOffset: -1, Err: err}
	}
	var rr recordReader
	cr := &countingReader{r: dec}
	rr.reset(cr)
	var n uint64
	for {
		_, err := rr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &CorruptError{Path: src.Path(), Frame: -1, Offset: fs.off, RawOffset: rr.n, Err: err}
		}
		n++
	}
	if n != fi.Events || uint64(cr.n) != fi.RawLen {
		return &CorruptError{Path: src.Path(), Frame: -1, Offset: fs.off, RawOffset: -1,
			Err: fmt.Errorf("frame holds %d records in %d bytes, index says %d in %d", n, cr.n, fi.Events, fi.RawLen)}
	}
	return nil
}
