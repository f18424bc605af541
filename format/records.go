package format

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MaxRecordSize bounds a single record. Events are at most a few MB (a
// block message); a larger length prefix means corruption.
const MaxRecordSize = 64 << 20

var errRecordTooLarge = errors.New("record length exceeds limit")

// recordReader splits a byte stream into uvarint-length-delimited records.
type recordReader struct {
	br  *bufio.Reader
	buf []byte
	n   int64 // bytes of complete records consumed
}

const recordBufSize = 256 << 10

func (rr *recordReader) reset(r io.Reader) {
	if rr.br == nil {
		rr.br = bufio.NewReaderSize(r, recordBufSize)
	} else {
		rr.br.Reset(r)
	}
	rr.n = 0
}

// next returns the next record, valid until the following call. It returns
// io.EOF at a clean record boundary and io.ErrUnexpectedEOF for a record
// cut short (a torn tail).
func (rr *recordReader) next() ([]byte, error) {
	l, hdr, err := rr.readUvarint()
	if err != nil {
		return nil, err
	}
	if l > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes", errRecordTooLarge, l)
	}
	size := int(l)
	if size <= rr.br.Size() {
		b, err := rr.br.Peek(size)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			rr.br.Discard(len(b))
			return nil, err
		}
		rr.br.Discard(size)
		rr.n += int64(hdr + size)
		return b, nil
	}
	if cap(rr.buf) < size {
		rr.buf = make([]byte, size)
	}
	b := rr.buf[:size]
	if _, err := io.ReadFull(rr.br, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	rr.n += int64(hdr + size)
	return b, nil
}

// readUvarint reads a protobuf varint, accepting non-canonical (padded)
// encodings as peer-observer's reader does.
func (rr *recordReader) readUvarint() (uint64, int, error) {
	var x uint64
	var s uint
	for i := 0; i < 10; i++ {
		c, err := rr.br.ReadByte()
		if err != nil {
			if err == io.EOF && i > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, i, err
		}
		if c < 0x80 {
			if i == 9 && c > 1 {
				return 0, i + 1, errors.New("record length varint overflows 64 bits")
			}
			return x | uint64(c)<<s, i + 1, nil
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, 10, errors.New("record length varint longer than 10 bytes")
}
