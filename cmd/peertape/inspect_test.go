package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testevents"
)

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"info"},
		{"nosuchcommand"},
		{"cat", "--bogus-flag", "x"},
		{"cat", "--from", "yesterday-ish", "."},
	} {
		_, stderr, code := peertape(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
	}
	if _, _, code := peertape(t, "info", "/nonexistent/path"); code != 1 {
		t.Errorf("missing file: exit %d, want 1", code)
	}
	// recover takes files: a directory is refused in words for users.
	dir := t.TempDir()
	if _, stderr, code := peertape(t, "recover", dir); code != 1 || stderr != "peertape: "+dir+": is a directory, not an archive file\n" {
		t.Errorf("recover DIR: exit %d, stderr %q", code, stderr)
	}
}

func TestInfoJSON(t *testing.T) {
	dir := t.TempDir()
	evs := testevents.Mixed(3000, 1, 1_700_000_000_000)
	writeSegment(t, dir, "n1-20231114T221320Z-000000.seg.zst", evs[:1000], format.WriterOptions{})
	writeSegment(t, dir, "n1-20231114T221321Z-000001.seg.zst", evs[1000:], format.WriterOptions{FrameSize: 32 << 10})
	stdout, stderr, code := peertape(t, "info", "--json", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(got) != 2 {
		t.Fatalf("%d objects, want 2", len(got))
	}
	for _, k := range []string{"path", "format", "node", "complete", "events", "first_event_time_ms", "last_event_time_ms", "bytes_compressed", "bytes_raw", "frames", "kinds"} {
		if _, ok := got[0][k]; !ok {
			t.Errorf("key %q missing", k)
		}
	}
	if got[1]["events"].(float64) != 2000 || got[1]["complete"] != true || got[1]["format"] != "peertape-v1" || got[1]["node"] != "n1" {
		t.Fatalf("second file: %v", got[1])
	}
	if got[0]["first_event_time_ms"].(float64) != float64(evs[0].Time) {
		t.Fatalf("first time %v", got[0]["first_event_time_ms"])
	}
	kinds := got[1]["kinds"].(map[string]any)
	if kinds["netmsg"] == nil || kinds["rpc"] == nil {
		t.Fatalf("kinds %v", kinds)
	}

	// Human output names every file and a total.
	stdout, _, code = peertape(t, "info", dir)
	if code != 0 || !strings.Contains(stdout, "total: 2 files") || !strings.Contains(stdout, "netmsg") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
}

func TestCatJSONAndRange(t *testing.T) {
	dir := t.TempDir()
	evs := testevents.Mixed(2000, 2, 1_700_000_000_000)
	p := writeSegment(t, dir, "a.seg.zst", evs, format.WriterOptions{FrameSize: 16 << 10})
	stdout, stderr, code := peertape(t, "cat", "--json", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("%d lines, want %d", len(lines), len(evs))
	}
	var first struct {
		TimeMs int64          `json:"time_ms"`
		Kind   string         `json:"kind"`
		Type   string         `json:"type"`
		Node   string         `json:"node"`
		Event  map[string]any `json:"event"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.TimeMs != evs[0].Time || first.Kind != "netmsg" || first.Type != "inv" || first.Node != "n1" || first.Event["ebpf_extractor"] == nil {
		t.Fatalf("first line: %s", lines[0])
	}

	// --from +offset/--to and --kind select exactly what a scan selects.
	start := evs[0].Time
	var want int
	for _, ev := range evs {
		if ev.Time >= start+1000 && ev.Time < start+2000 && ev.Kind.String() == "netmsg" && ev.Type == "ping" {
			want++
		}
	}
	stdout, _, code = peertape(t, "cat", "--from", "+1s", "--to", "+2s", "--kind", "netmsg:ping", p)
	got := strings.Count(stdout, "\n")
	if code != 0 || got != want || want == 0 {
		t.Fatalf("exit %d: %d lines, want %d", code, got, want)
	}
	if !strings.Contains(stdout, " netmsg:ping ") {
		t.Fatalf("text line: %q", strings.SplitN(stdout, "\n", 2)[0])
	}
}

func TestVerifyRecoverCompactImport(t *testing.T) {
	dir := t.TempDir()
	evs := testevents.Mixed(5000, 3, 1_700_000_000_000)
	good := writeSegment(t, dir, "good.seg.zst", evs, format.WriterOptions{FrameSize: 32 << 10})
	if out, _, code := peertape(t, "verify", good); code != 0 || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("verify good: exit %d %s", code, out)
	}

	// A damaged copy: exit 1, and the problem names the file and offset.
	data, _ := os.ReadFile(good)
	bad := filepath.Join(dir, "bad.seg.zst.partial")
	os.WriteFile(bad, data[:len(data)*2/3], 0o644)
	out, _, code := peertape(t, "verify", bad)
	if code != 1 || !strings.Contains(out, "PROBLEMS "+bad) {
		t.Fatalf("verify torn: exit %d\n%s", code, out)
	}
	out, stderr, code := peertape(t, "recover", bad)
	if code != 0 || !regexp.MustCompile(`kept [\d,]+ events, dropped [1-9]\d* bytes`).MatchString(out) {
		t.Fatalf("recover: exit %d %s %s", code, out, stderr)
	}
	recovered := filepath.Join(dir, "bad.seg.zst")
	if _, _, code := peertape(t, "verify", recovered); code != 0 {
		t.Fatalf("recovered file does not verify")
	}

	out, stderr, code = peertape(t, "compact", good)
	if code != 0 || !strings.Contains(out, "compacted") {
		t.Fatalf("compact: exit %d %s %s", code, out, stderr)
	}
	if _, _, code := peertape(t, "verify", good); code != 0 {
		t.Fatal("compacted file does not verify")
	}

	// import: `zstd -dc` of a segment is a peer-observer archive; import
	// turns it back into a segment holding the same events.
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Skip("zstd CLI not installed (make deps installs it)")
	}
	upstream := filepath.Join(dir, "mainnet.20260407-090713-133.bin.zst")
	if b, err := exec.Command("sh", "-c", "zstd -dc "+good+" | zstd -q -19 -o "+upstream).CombinedOutput(); err != nil {
		t.Fatalf("zstd: %v %s", err, b)
	}
	outDir := filepath.Join(dir, "imported")
	out, stderr, code = peertape(t, "import", upstream, "-o", outDir)
	if code != 0 || !strings.Contains(out, "imported") {
		t.Fatalf("import: exit %d %s %s", code, out, stderr)
	}
	catUp, _, _ := peertape(t, "cat", "--json", upstream)
	catSeg, _, _ := peertape(t, "cat", "--json", outDir)
	if catUp != catSeg || strings.Count(catSeg, "\n") != len(evs) {
		t.Fatalf("imported events differ: %d vs %d lines", strings.Count(catUp, "\n"), strings.Count(catSeg, "\n"))
	}
	if _, _, code := peertape(t, "import", good, "-o", outDir); code != 1 {
		t.Fatalf("importing a segment: exit %d, want 1", code)
	}
}
