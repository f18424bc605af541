package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/proto/pb"
)

// TestReadCommandsAcceptEveryInput: info, cat, verify and replay each
// accept a directory, a segment, a torn .partial and peer-observer
// archives (zstd and uncompressed, complete and truncated), and agree on
// how many events each holds. verify passes exactly the sound ones; cat
// and replay say when they skipped a torn tail.
func TestReadCommandsAcceptEveryInput(t *testing.T) {
	dir := t.TempDir()
	evs := testevents.Mixed(3000, 31, 1_700_000_000_000)
	segDir := filepath.Join(dir, "segs")
	os.Mkdir(segDir, 0o755)
	seg := writeSegment(t, segDir, "n1-20231114T221320Z-000000.seg.zst", evs[:2000], format.WriterOptions{FrameSize: 32 << 10})
	writeSegment(t, segDir, "n1-20231114T221340Z-000001.seg.zst", evs[2000:], format.WriterOptions{FrameSize: 32 << 10})

	data, _ := os.ReadFile(seg)
	partial := filepath.Join(dir, "torn.seg.zst.partial")
	os.WriteFile(partial, data[:len(data)*3/4], 0o644)

	hb, _ := proto.Marshal(&pb.ArchiveHeader{Created: proto.Uint64(1_700_000_000)})
	raw := protowire.AppendBytes(nil, hb)
	for _, ev := range evs {
		raw = protowire.AppendBytes(raw, ev.Raw)
	}
	enc, _ := zstd.NewWriter(nil)
	z := enc.EncodeAll(raw, nil)
	upZst := filepath.Join(dir, "up.20231114-221320-1.bin.zst")
	upBin := filepath.Join(dir, "up.20231114-221320-2.bin")
	upCut := filepath.Join(dir, "cut.20231114-221320-3.bin.zst")
	os.WriteFile(upZst, z, 0o644)
	os.WriteFile(upBin, raw, 0o644)
	os.WriteFile(upCut, z[:len(z)*2/3], 0o644)

	// What the library reads from each input is the reference.
	count := func(p string) int {
		files, err := format.Expand([]string{p})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range files {
			r, err := format.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			for r.Next() {
				n++
			}
			r.Close()
		}
		return n
	}
	for _, tc := range []struct {
		name  string
		path  string
		files int
		full  int // events of a sound input; 0: a truncated one
	}{
		{"directory", segDir, 2, len(evs)},
		{"segment", seg, 1, 2000},
		{"torn partial", partial, 1, 0},
		{"upstream zst", upZst, 1, len(evs)},
		{"upstream uncompressed", upBin, 1, len(evs)},
		{"upstream truncated", upCut, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sound := tc.full > 0
			want := count(tc.path)
			if (sound && want != tc.full) || (!sound && (want == 0 || want >= len(evs))) {
				t.Fatalf("library reads %d events", want)
			}

			out, stderr, code := peertape(t, "info", "--json", tc.path)
			var sums []format.Summary
			if code != 0 || json.Unmarshal([]byte(out), &sums) != nil || len(sums) != tc.files {
				t.Fatalf("info: exit %d, %d summaries\n%s\n%s", code, len(sums), out, stderr)
			}
			var infoEvents uint64
			for _, s := range sums {
				infoEvents += s.Events
			}
			if infoEvents != uint64(want) {
				t.Errorf("info counts %d events, want %d", infoEvents, want)
			}

			out, stderr, code = peertape(t, "cat", tc.path)
			if code != 0 || strings.Count(out, "\n") != want {
				t.Errorf("cat: exit %d, %d lines, want %d\n%s", code, strings.Count(out, "\n"), want, stderr)
			}
			if torn := strings.Contains(stderr, "torn tail skipped"); torn == sound {
				t.Errorf("cat: torn tail reported %v for a sound=%v input:\n%s", torn, sound, stderr)
			}

			out, _, code = peertape(t, "verify", tc.path)
			if wantCode := map[bool]int{true: 0, false: 1}[sound]; code != wantCode {
				t.Errorf("verify: exit %d, want %d\n%s", code, wantCode, out)
			}

			_, stderr, code = peertape(t, "replay", "--speed", "max", "--null", "--summary-json", tc.path)
			if code != 0 {
				t.Fatalf("replay: exit %d\n%s", code, stderr)
			}
			if s := summaryOf(t, stderr); s.Events != uint64(want) {
				t.Errorf("replay sent %d events, want %d", s.Events, want)
			}
			if torn := strings.Contains(stderr, "torn tail skipped"); torn == sound {
				t.Errorf("replay: torn tail reported %v for a sound=%v input:\n%s", torn, sound, stderr)
			}
		})
	}
}
