package format

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/peertape/peertape/proto/pb"
)

// fuzzSegment is a small valid segment used to seed the fuzzers.
func fuzzSegment(f *testing.F) []byte {
	dir := f.TempDir()
	p := writeSegment(f, dir, "seed.seg.zst", testEvents(f, 40, 1, 1_700_000_000_000), WriterOptions{FrameSize: 1 << 10})
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// The record decoder never panics and never reports more bytes consumed
// than it was given.
func FuzzRecordReader(f *testing.F) {
	f.Add([]byte{0x02, 0x08, 0x01, 0x00})
	f.Add([]byte{0x80, 0x00, 0x01, 0xaa})                                           // padded varint
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00}) // overflow
	f.Add(upstreamBytes(f, testEvents(f, 5, 2, 1), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rr recordReader
		rr.reset(bytes.NewReader(data))
		for i := 0; i < 1000; i++ {
			rec, err := rr.next()
			if err != nil {
				break
			}
			_ = rec
		}
		if rr.n > int64(len(data)) {
			t.Fatalf("consumed %d of %d bytes", rr.n, len(data))
		}
	})
}

// The frame scanner never panics, and what it calls complete lies inside
// the data.
func FuzzScanFrame(f *testing.F) {
	seg := fuzzSegment(f)
	f.Add(seg[bytes.Index(seg, []byte{0x28, 0xb5, 0x2f, 0xfd}):])
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x05, 0x29, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := scanFrame(bytes.NewReader(data), 0, int64(len(data)))
		if err != nil {
			return
		}
		if fs.blocksEnd > int64(len(data)) || (fs.complete && fs.end > int64(len(data))) {
			t.Fatalf("frame beyond data: %+v of %d", fs, len(data))
		}
		// The decodable view of the frame must not make the decoder panic.
		r := &Reader{}
		if err := r.newDecoder(); err != nil {
			t.Fatal(err)
		}
		defer r.dec.Close()
		if err := r.dec.Reset(fs.source(bytes.NewReader(data))); err == nil {
			io.Copy(io.Discard, io.LimitReader(r.dec, 1<<22))
		}
	})
}

// The index, trailer and metadata decoders reject damage with an error.
func FuzzIndex(f *testing.F) {
	seg := fuzzSegment(f)
	f.Add(seg[len(seg)-trailerSize:])
	buf, _ := appendSkippable(nil, tagIndex, &pb.SegmentIndex{Events: 3, Frames: []*pb.FrameInfo{{Offset: 10, CompressedLen: 5}}})
	f.Add(buf[8:])
	f.Fuzz(func(t *testing.T, data []byte) {
		parseTrailer(data)
		idx := &pb.SegmentIndex{}
		err := parseSkippableContent(data, tagIndex, idx)
		if err == nil && len(data) < 8 {
			t.Fatal("accepted a frame too short to hold a tag and crc")
		}
		if err == nil {
			checkIndexLite(t, data, idx)
		}
		parseSkippableContent(data, tagMeta, &pb.SegmentMeta{})
		parseSkippableContent(data, tagNote, &pb.Note{})
	})
}

// A whole file of any content: Open either fails with an error or the
// reader yields records and stops, reporting problems, without panicking.
func FuzzReader(f *testing.F) {
	seg := fuzzSegment(f)
	f.Add(seg)
	f.Add(seg[:len(seg)/2])
	mid := bytes.Clone(seg)
	mid[len(mid)/2] ^= 0xff
	f.Add(mid)
	f.Add(upstreamBytes(f, testEvents(f, 5, 3, 1), 1))
	f.Add(zstdCompress(f, upstreamBytes(f, testEvents(f, 5, 3, 1), 1)))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "f.seg.zst.partial")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, noIndex := range []bool{false, true} {
			r, err := Open(p, ReadOptions{NoIndex: noIndex})
			if err != nil {
				continue
			}
			for i := 0; r.Next() && i < 100000; i++ {
			}
			for _, pr := range r.Problems() {
				var ce *CorruptError
				if !errors.As(pr, &ce) || ce.Path != p {
					t.Fatalf("problem without file: %v", pr)
				}
			}
			r.Close()
		}
	})
}
