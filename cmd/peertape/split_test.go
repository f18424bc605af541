package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
)

func TestSplitCLI(t *testing.T) {
	in, evs := twoNodes(t, 4000)
	start := evs["a"][0].Time

	// By event time: every output of a node covers one 2 s slot, aligned
	// to the epoch, and the outputs concatenated give the input.
	out := filepath.Join(t.TempDir(), "every")
	stdout, stderr, code := peertape(t, "split", in, "-o", out, "--every", "2s")
	if code != 0 || !strings.Contains(stdout, "split: read 6,000 events from 3 files") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	files, err := format.Expand([]string{out})
	if err != nil {
		t.Fatal(err)
	}
	if want := int((evs["a"][len(evs["a"])-1].Time/2000 - start/2000) + 1); len(files) < want {
		t.Fatalf("%d outputs, want at least %d for node a", len(files), want)
	}
	for _, f := range files {
		r, err := format.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		idx := r.Index()
		if idx == nil || idx.MinTimeMs/2000 != idx.MaxTimeMs/2000 {
			t.Fatalf("%s spans %s .. %s", f, event.FormatTime(idx.GetMinTimeMs()), event.FormatTime(idx.GetMaxTimeMs()))
		}
		r.Close()
	}
	got := readNodes(t, out)
	equalRaw(t, "node a", got["a"], evs["a"])
	equalRaw(t, "node b", got["b"], evs["b"])

	// By size.
	out = filepath.Join(t.TempDir(), "size")
	if _, stderr, code := peertape(t, "split", filepath.Join(in, "a-1.seg.zst"), filepath.Join(in, "a-2.seg.zst"), "-o", out, "--size", "64KiB"); code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	files, _ = format.Expand([]string{out})
	if len(files) < 3 {
		t.Fatalf("%d outputs for --size 64KiB", len(files))
	}
	for _, f := range files[:len(files)-1] {
		st, _ := os.Stat(f)
		if st.Size() < 64<<10 || st.Size() > 64<<10+64<<10 {
			t.Errorf("%s: %d bytes", f, st.Size())
		}
	}
	equalRaw(t, "by size", readNodes(t, out)["a"], evs["a"])

	for _, args := range [][]string{
		{"split", in, "-o", t.TempDir()},
		{"split", in, "-o", t.TempDir(), "--every", "1h", "--size", "1MiB"},
		{"split", in, "-o", filepath.Join(t.TempDir(), "x.seg.zst"), "--every", "1h"},
		{"split", in, "-o", t.TempDir(), "--size", "lots"},
		{"split", in, "--every", "1h"},
	} {
		if _, stderr, code := peertape(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
	// A negative duration is named as such, not as a missing flag.
	if _, stderr, code := peertape(t, "split", in, "-o", t.TempDir(), "--every", "-1h"); code != 2 || !strings.Contains(stderr, "--every -1h0m0s: must be positive") {
		t.Errorf("--every -1h: exit %d, %s", code, stderr)
	}
}
