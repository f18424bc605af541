package format

import (
	"os"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// checkIndexLite asserts that the lite parse of an index frame's content
// equals the full one without the per-frame maps.
func checkIndexLite(t *testing.T, content []byte, full *pb.SegmentIndex) {
	t.Helper()
	lite, err := parseIndexLite(content)
	if err != nil {
		t.Fatalf("lite parse rejects an index the full parse accepts: %v", err)
	}
	want := proto.Clone(full).(*pb.SegmentIndex)
	for _, fi := range want.Frames {
		fi.Kinds, fi.Commands = nil, nil
		fi.ProtoReflect().SetUnknown(nil) // the lite parse keeps no unknown fields
	}
	if !proto.Equal(lite, want) {
		t.Fatalf("lite index differs:\n got %v\nwant %v", lite, want)
	}
}

// Open plans frames from the lite index; Index still returns everything.
// Small frames make an index larger than the tail Open reads at once.
func TestIndexLite(t *testing.T) {
	for _, c := range []struct {
		name      string
		frameSize int64
		bigIndex  bool
	}{{"index in the tail read", 64 << 10, false}, {"index larger than the tail read", 2 << 10, true}} {
		t.Run(c.name, func(t *testing.T) { testIndexLite(t, c.frameSize, c.bigIndex) })
	}
}

func testIndexLite(t *testing.T, frameSize int64, bigIndex bool) {
	dir := t.TempDir()
	evs := testEvents(t, 5000, 11, 1_700_000_000_000)
	p := writeSegment(t, dir, "a.seg.zst", evs, WriterOptions{FrameSize: frameSize})
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	off, l, err := parseTrailer(b[len(b)-trailerSize:])
	if err != nil {
		t.Fatal(err)
	}
	content := b[off+8 : off+int64(l)]
	if big := l+trailerSize > indexTail; big != bigIndex {
		t.Fatalf("index of %d bytes: want larger than the %d-byte tail read: %v", l, indexTail, bigIndex)
	}
	full := &pb.SegmentIndex{}
	if err := parseSkippableContent(content, tagIndex, full); err != nil {
		t.Fatal(err)
	}
	if len(full.Frames) < 3 || len(full.Frames[1].Kinds) == 0 {
		t.Fatalf("want several frames with kind counts, got %d", len(full.Frames))
	}
	checkIndexLite(t, content, full)

	r, err := Open(p, ReadOptions{From: evs[2500].Time})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.index.Frames[1].Kinds) != 0 {
		t.Fatal("Open decoded the per-frame maps for a time-only read")
	}
	if !proto.Equal(r.Index(), full) {
		t.Fatal("Index() is not the full stored index")
	}
	if len(r.Problems()) > 0 {
		t.Fatal(r.Problems())
	}

	// A damaged index: the lite parse fails like the full one.
	bad := append([]byte(nil), content...)
	bad[len(bad)/2] ^= 0xff
	if _, err := parseIndexLite(bad); err == nil {
		t.Fatal("lite parse accepted an index with a wrong checksum")
	}
}
