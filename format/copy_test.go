package format

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Copying frames verbatim gives the same records, a sound index, and the
// same bytes for the copied frames.
func TestCopyFrame(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 6000, 15, 1_700_000_000_000)
	src := writeSegment(t, dir, "src.seg.zst", evs, WriterOptions{FrameSize: 32 << 10})
	r, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	frames := r.Index().Frames
	if len(frames) < 4 {
		t.Fatalf("need several frames, got %d", len(frames))
	}
	out := filepath.Join(dir, "out.seg.zst")
	w, err := Create(out, WriterOptions{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CopyFrame(r, 0); !errors.Is(err, ErrNotCopyable) {
		t.Fatalf("frame 0: %v, want ErrNotCopyable", err)
	}
	// Frame 0's records one by one, then frames 1.. verbatim.
	for _, ev := range evs[:frames[0].Events] {
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(frames); i++ {
		if err := w.CopyFrame(r, i); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, r2 := readAll(t, out)
	sameEvents(t, got, withNode(evs, ""))
	if v, err := Verify(out); err != nil || !v.OK() {
		t.Fatalf("verify: %v %v", err, v.Problems)
	}
	a, b := r.Index(), r2.Index()
	if a.Events != b.Events || !sameCounts(a.Commands, b.Commands) || !sameCounts(a.Kinds, b.Kinds) || a.MinTimeMs != b.MinTimeMs || a.MaxTimeMs != b.MaxTimeMs {
		t.Fatalf("index totals differ: %v vs %v", a, b)
	}
	srcBytes, _ := os.ReadFile(src)
	outBytes, _ := os.ReadFile(out)
	for i := 1; i < len(frames); i++ {
		x, y := frames[i], b.Frames[len(b.Frames)-len(frames)+i]
		if string(srcBytes[x.Offset:x.Offset+x.CompressedLen]) != string(outBytes[y.Offset:y.Offset+y.CompressedLen]) {
			t.Fatalf("frame %d not copied verbatim", i)
		}
	}
}

// A damaged frame is refused, not copied.
func TestCopyFrameRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 3000, 16, 1_700_000_000_000)
	src := writeSegment(t, dir, "src.seg.zst", evs, WriterOptions{FrameSize: 32 << 10})
	_, r0 := readAll(t, src)
	fi := r0.Index().Frames[2]
	data, _ := os.ReadFile(src)
	data[fi.Offset+fi.CompressedLen/2] ^= 0xff
	os.WriteFile(src, data, 0o644)
	r, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := Create(filepath.Join(dir, "out.seg.zst"), WriterOptions{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var ce *CorruptError
	if err := w.CopyFrame(r, 2); !errors.As(err, &ce) {
		t.Fatalf("damaged frame: %v, want a CorruptError", err)
	}
}
