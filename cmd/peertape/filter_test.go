package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/sanitize/sanitizetest"
)

// twoNodes writes node a as two segments and node b as a peer-observer
// archive, overlapping in time, and returns the directory and the events
// per node in file order.
func twoNodes(t *testing.T, n int) (string, map[string][]event.Event) {
	t.Helper()
	dir := t.TempDir()
	a := sanitizetest.Events(n, 21, sanStart, sanitizetest.Options{Unknown: true})
	b := sanitizetest.Events(n/2, 22, sanStart+700, sanitizetest.Options{Unknown: true})
	if err := sanitizetest.WriteSegment(filepath.Join(dir, "a-1.seg.zst"), sanitizetest.Meta("a", sanStart), a[:n/2]); err != nil {
		t.Fatal(err)
	}
	if err := sanitizetest.WriteSegment(filepath.Join(dir, "a-2.seg.zst"), sanitizetest.Meta("a", a[n/2].Time), a[n/2:]); err != nil {
		t.Fatal(err)
	}
	if err := sanitizetest.WriteUpstream(filepath.Join(dir, "b.20260407-090713-833.bin.zst"), uint64(b[0].Time/1000), b); err != nil {
		t.Fatal(err)
	}
	return dir, map[string][]event.Event{"a": a, "b": b}
}

// readNodes reads every segment under paths and returns the events per
// node (from the segment metadata) in file order.
func readNodes(t *testing.T, paths ...string) map[string][]event.Event {
	t.Helper()
	files, err := format.Expand(paths)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]event.Event{}
	for _, f := range files {
		r, err := format.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Complete() || r.Format() != format.FormatSegment {
			t.Fatalf("%s: not a complete segment", f)
		}
		for r.Next() {
			ev := r.Event()
			got[ev.Node] = append(got[ev.Node], ev)
		}
		if r.Err() != nil || len(r.Problems()) > 0 {
			t.Fatalf("%s: %v %v", f, r.Err(), r.Problems())
		}
		r.Close()
	}
	return got
}

func equalRaw(t *testing.T, what string, got, want []event.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Raw, want[i].Raw) {
			t.Fatalf("%s: event %d differs", what, i)
		}
	}
}

func TestFilterCLI(t *testing.T) {
	in, evs := twoNodes(t, 3000)
	start := evs["a"][0].Time
	from, to := start+2000, start+4000

	// One node into one named file, by time range and kind.
	out := filepath.Join(t.TempDir(), "cut.seg.zst")
	stdout, stderr, code := peertape(t, "filter", filepath.Join(in, "a-1.seg.zst"), filepath.Join(in, "a-2.seg.zst"), "-o", out,
		"--from", event.FormatTime(from), "--to", "+4s", "--only", "netmsg,netconn", "--exclude", "netmsg:inv")
	if code != 0 || !strings.Contains(stdout, "filter: read") || !strings.Contains(stdout, out) {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	var want []event.Event
	for _, ev := range evs["a"] {
		if ev.Time >= from && ev.Time < to && (ev.Kind == event.NetMsg || ev.Kind == event.NetConn) && ev.Selector() != "netmsg:inv" {
			want = append(want, ev)
		}
	}
	equalRaw(t, "time and kind", readNodes(t, out)["a"], want)

	// Both nodes into a directory, by peer id.
	dir := filepath.Join(t.TempDir(), "peer")
	stdout, stderr, code = peertape(t, "filter", in, "-o", dir, "--peer", "7", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var rep struct {
		Outputs []struct{ Path, Node string }
		Written uint64 `json:"events_written"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Outputs) != 2 || rep.Written == 0 {
		t.Fatalf("report %v %s", err, stdout)
	}
	got := readNodes(t, dir)
	for node, list := range got {
		for _, ev := range list {
			m, _ := ev.Decode()
			line, _ := event.AppendJSONLine(nil, ev, m)
			if !strings.Contains(string(line), `"peer_id":7,`) && !strings.Contains(string(line), `"id":7,`) && !strings.Contains(string(line), "peer=7") {
				t.Fatalf("node %s: event not about peer 7: %s", node, line)
			}
		}
	}

	// Nothing selected: no segment, and the JSON report lists none as
	// an empty array (not null) for scripts.
	stdout, stderr, code = peertape(t, "filter", in, "-o", filepath.Join(t.TempDir(), "none"), "--peer", "203.0.113.254", "--json")
	if code != 0 || !strings.Contains(stdout, `"events_written":0,`) || !strings.Contains(stdout, `"outputs":[]`) {
		t.Fatalf("empty selection: exit %d\n%s%s", code, stdout, stderr)
	}

	// Two nodes cannot go into one file; bad flags are usage errors.
	if _, stderr, code := peertape(t, "filter", in, "-o", filepath.Join(t.TempDir(), "x.seg.zst")); code != 1 || !strings.Contains(stderr, "2 nodes") {
		t.Fatalf("two nodes into one file: exit %d %s", code, stderr)
	}
	for _, args := range [][]string{
		{"filter", in},
		{"filter", in, "-o", t.TempDir(), "--peer", "example.com"},
		{"filter", in, "-o", t.TempDir(), "--only", "nosuchkind"},
		{"filter", in, "-o", t.TempDir(), "--from", "tomorrow"},
	} {
		if _, stderr, code := peertape(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
	if left, _ := os.ReadDir(filepath.Dir(out)); len(left) != 1 {
		t.Errorf("output directory holds %d files", len(left))
	}
}
