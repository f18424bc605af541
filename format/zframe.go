package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// zstd frame and block layout (RFC 8878), as much as peertape needs to find
// frame boundaries and complete blocks without decompressing.
const (
	maxBlockSize  = 128 << 10
	blockHdrSize  = 3
	blockRaw      = 0
	blockRLE      = 1
	blockCompress = 2
)

// emptyLastBlock is a raw block of size 0 with the Last_Block bit set. It
// ends a torn frame so that a standard decoder releases what it decoded.
var emptyLastBlock = []byte{0x01, 0x00, 0x00}

// zHeader is a parsed zstd frame header.
type zHeader struct {
	raw           []byte // the header bytes as stored
	checksum      bool
	singleSegment bool
	dictIDSize    int
	fcsSize       int
	fcs           uint64
}

var errNotFrame = errors.New("not a zstd frame")

// parseZHeader parses the frame header at the start of b (which holds at
// least the header, up to 18 bytes, when available).
func parseZHeader(b []byte) (zHeader, error) {
	if len(b) < 5 || binary.LittleEndian.Uint32(b) != zstdMagic {
		return zHeader{}, errNotFrame
	}
	fhd := b[4]
	if fhd&0x08 != 0 {
		return zHeader{}, fmt.Errorf("zstd frame header: reserved bit set")
	}
	h := zHeader{
		checksum:      fhd&0x04 != 0,
		singleSegment: fhd&0x20 != 0,
		dictIDSize:    [4]int{0, 1, 2, 4}[fhd&0x03],
	}
	switch fhd >> 6 {
	case 0:
		if h.singleSegment {
			h.fcsSize = 1
		}
	case 1:
		h.fcsSize = 2
	case 2:
		h.fcsSize = 4
	case 3:
		h.fcsSize = 8
	}
	n := 5
	if !h.singleSegment {
		n++ // window descriptor
	}
	n += h.dictIDSize
	fcsAt := n
	n += h.fcsSize
	if len(b) < n {
		return zHeader{}, io.ErrUnexpectedEOF
	}
	switch h.fcsSize {
	case 1:
		h.fcs = uint64(b[fcsAt])
	case 2:
		h.fcs = uint64(binary.LittleEndian.Uint16(b[fcsAt:])) + 256
	case 4:
		h.fcs = uint64(binary.LittleEndian.Uint32(b[fcsAt:]))
	case 8:
		h.fcs = binary.LittleEndian.Uint64(b[fcsAt:])
	}
	h.raw = b[:n:n]
	return h, nil
}

// truncatedHeader returns a header equivalent to h for a frame that ends
// early: no content checksum (it cannot be checked) and no declared content
// size (it would not match). A single-segment frame gets a window
// descriptor large enough for its declared size.
func (h zHeader) truncatedHeader() []byte {
	fhd := h.raw[4]
	out := []byte{h.raw[0], h.raw[1], h.raw[2], h.raw[3], 0}
	out[4] = fhd & 0x03 // keep the dictionary id flag only
	if h.singleSegment {
		// Window_Size = 2^(10+exponent); pick the smallest that holds fcs.
		exp := 0
		for exp < 31 && uint64(1)<<(10+exp) < h.fcs {
			exp++
		}
		out = append(out, byte(exp<<3))
	} else {
		out = append(out, h.raw[5])
	}
	dictAt := 5
	if !h.singleSegment {
		dictAt = 6
	}
	return append(out, h.raw[dictAt:dictAt+h.dictIDSize]...)
}

// frameScan describes one zstd frame found in a file.
type frameScan struct {
	off       int64 // frame start
	hdr       zHeader
	blocksEnd int64 // end of the last complete block
	end       int64 // end of the frame (after the checksum) when complete
	complete  bool
	lastBlock bool // the last complete block carries the Last_Block bit
	// corrupt is set when a block header is impossible (reserved type,
	// oversized block): the frame is damaged at blocksEnd, not torn.
	corrupt error
}

// scanFrame walks the block headers of the zstd frame at off, reading no
// further than limit. It decompresses nothing. A frame that runs past limit
// is returned incomplete (torn); its complete blocks are still usable.
func scanFrame(ra io.ReaderAt, off, limit int64) (frameScan, error) {
	var hb [18]byte
	n, err := ra.ReadAt(hb[:min(int64(len(hb)), limit-off)], off)
	if n < 5 {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return frameScan{}, err
	}
	hdr, err := parseZHeader(hb[:n])
	if err != nil {
		return frameScan{}, err
	}
	hdr.raw = bytes.Clone(hdr.raw)
	fs := frameScan{off: off, hdr: hdr}
	pos := off + int64(len(hdr.raw))
	fs.blocksEnd = pos
	var bh [blockHdrSize]byte
	for {
		if pos+blockHdrSize > limit {
			return fs, nil // torn inside a block header
		}
		if _, err := ra.ReadAt(bh[:], pos); err != nil {
			return fs, fmt.Errorf("read block header at %d: %w", pos, err)
		}
		v := uint32(bh[0]) | uint32(bh[1])<<8 | uint32(bh[2])<<16
		last := v&1 != 0
		typ := (v >> 1) & 3
		size := int64(v >> 3)
		var content int64
		switch typ {
		case blockRaw, blockCompress:
			content = size
		case blockRLE:
			content = 1
		default:
			fs.corrupt = fmt.Errorf("reserved block type at offset %d", pos)
			return fs, nil
		}
		if size > maxBlockSize {
			fs.corrupt = fmt.Errorf("block of %d bytes (max %d) at offset %d", size, maxBlockSize, pos)
			return fs, nil
		}
		if pos+blockHdrSize+content > limit {
			return fs, nil // torn inside a block
		}
		pos += blockHdrSize + content
		fs.blocksEnd = pos
		if last {
			fs.lastBlock = true
			if hdr.checksum {
				if pos+4 > limit {
					return fs, nil // torn before the checksum
				}
				pos += 4
			}
			fs.end = pos
			fs.complete = true
			return fs, nil
		}
	}
}

// source returns a reader of the frame's bytes that a standard decoder can
// decompress: the frame as stored when complete, otherwise its complete
// blocks under a header without checksum and content size, ended by an
// empty last block.
func (fs frameScan) source(ra io.ReaderAt) io.Reader {
	if fs.complete {
		return io.NewSectionReader(ra, fs.off, fs.end-fs.off)
	}
	hl := int64(len(fs.hdr.raw))
	parts := []io.Reader{
		bytes.NewReader(fs.hdr.truncatedHeader()),
		io.NewSectionReader(ra, fs.off+hl, fs.blocksEnd-fs.off-hl),
	}
	if !fs.lastBlock {
		parts = append(parts, bytes.NewReader(emptyLastBlock))
	}
	return io.MultiReader(parts...)
}
