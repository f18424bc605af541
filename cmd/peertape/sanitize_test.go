package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/sanitize/sanitizetest"
)

const sanStart = 1_775_552_833_133

// sanitizeInputs writes the synthetic every-place stream as a segment and
// a peer-observer archive and returns the directory and the events.
func sanitizeInputs(t *testing.T, n int) (string, []event.Event) {
	t.Helper()
	dir := t.TempDir()
	evs := sanitizetest.Events(n, 11, sanStart, sanitizetest.Options{})
	half := n / 2
	if err := sanitizetest.WriteSegment(filepath.Join(dir, "hp-20260407T090713Z-000000.seg.zst"), sanitizetest.Meta("hp", sanStart), evs[:half]); err != nil {
		t.Fatal(err)
	}
	if err := sanitizetest.WriteUpstream(filepath.Join(dir, "hp.20260407-100000-000.bin.zst"), uint64(evs[half].Time/1000), evs[half:]); err != nil {
		t.Fatal(err)
	}
	return dir, evs
}

func newKeyFile(t *testing.T) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "sanitize.key")
	stdout, stderr, code := peertape(t, "sanitize", "--new-key", key)
	if code != 0 || !strings.Contains(stdout, "fingerprint") {
		t.Fatalf("--new-key: exit %d\n%s%s", code, stdout, stderr)
	}
	return key
}

func kindsOf(t *testing.T, paths ...string) map[string]int {
	t.Helper()
	files, err := format.Expand(paths)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, f := range files {
		r, err := format.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			kinds[r.RawEvent().Selector()]++
		}
		r.Close()
	}
	return kinds
}

func TestSanitizeKeyFiles(t *testing.T) {
	key := newKeyFile(t)
	st, err := os.Stat(key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", st.Mode(), err)
	}
	if _, stderr, code := peertape(t, "sanitize", "--new-key", key); code != 1 || !strings.Contains(stderr, "exists") {
		t.Fatalf("overwriting a key: exit %d %s", code, stderr)
	}
	in, _ := sanitizeInputs(t, 200)
	if err := os.Chmod(key, 0o640); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := peertape(t, "sanitize", in, "-o", filepath.Join(t.TempDir(), "o"), "--key-file", key)
	if code != 1 || !strings.Contains(stderr, "mode 0640") {
		t.Fatalf("group-readable key: exit %d %s", code, stderr)
	}
	for _, args := range [][]string{
		{"sanitize", in, "--key-file", key}, // no -o
		{"sanitize", in, "-o", t.TempDir()}, // no key
		{"sanitize", in, "-o", t.TempDir(), "--key-file", key, "--time-shift", "soon"},
		{"sanitize", "--check", in}, // no --original
		{"sanitize", in, "-o", t.TempDir(), "--key-file", key, "--drop-kinds", "bogus"},
	} {
		if _, stderr, code := peertape(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
}

// The whole round: sanitize a segment and a peer-observer archive, read
// the result back (same events per kind), see `info` call it sanitized,
// `--check` it clean, then put one original address back and see
// `--check` report exactly that field and exit 1.
func TestSanitizeCheckRoundTrip(t *testing.T) {
	in, evs := sanitizeInputs(t, 2000)
	key := newKeyFile(t)
	out := filepath.Join(t.TempDir(), "shared")
	stdout, stderr, code := peertape(t, "sanitize", in, "-o", out, "--key-file", key, "--time-shift", "keyed", "--json")
	if code != 0 {
		t.Fatalf("sanitize: exit %d\n%s", code, stderr)
	}
	var rep struct {
		Files []struct {
			Input, Output string
			EventsOut     uint64 `json:"events_out"`
		}
		KeyFingerprint string `json:"key_fingerprint"`
		SelfLearned    int    `json:"self_learned"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report not JSON: %v\n%s", err, stdout)
	}
	if len(rep.Files) != 2 || rep.SelfLearned != 2 || len(rep.KeyFingerprint) != 16 {
		t.Fatalf("report %+v", rep)
	}
	want := map[string]int{}
	for _, ev := range evs {
		want[ev.Selector()]++
	}
	got := kindsOf(t, out)
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d events after sanitizing, want %d", k, got[k], n)
		}
	}
	stdout, _, code = peertape(t, "info", out)
	if code != 0 || !strings.Contains(stdout, "sanitized (key "+rep.KeyFingerprint+")") {
		t.Fatalf("info: exit %d\n%s", code, stdout)
	}
	stdout, stderr, code = peertape(t, "sanitize", "--check", out, "--original", in)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "0 leaks") {
		t.Fatalf("check of a clean archive: exit %d\n%s%s", code, stdout, stderr)
	}

	// Put the original getpeerinfo address back into event 31 of the
	// first output, as if the sanitizer had missed that field.
	victim := rep.Files[0].Output
	r, err := format.Open(victim)
	if err != nil {
		t.Fatal(err)
	}
	meta := r.Meta()
	var outEvs []event.Event
	for r.Next() {
		outEvs = append(outEvs, r.Event())
	}
	r.Close()
	orig, _ := evs[31].Decode()
	addr := orig.GetRpcExtractor().GetPeerInfos().GetInfos()[5].GetAddress()
	m, _ := outEvs[31].Decode()
	m.GetRpcExtractor().GetPeerInfos().GetInfos()[5].Address = proto.String(addr)
	raw, _ := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	outEvs[31], _ = event.Parse(raw)
	os.Remove(victim)
	if err := sanitizetest.WriteSegment(victim, meta, outEvs); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = peertape(t, "sanitize", "--check", out, "--original", in)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], victim+": event 31 rpc_extractor.peer_infos.infos[5].address: ") ||
		!strings.Contains(addr, strings.Fields(lines[0])[4]) || !strings.Contains(stderr, "1 leaks") {
		t.Fatalf("check of a leaking archive: exit %d\nstdout %s\nstderr %s\n(address %s)", code, stdout, stderr, addr)
	}
	// --json prints one object per leak.
	stdout, _, code = peertape(t, "sanitize", "--check", "--json", out, "--original", in)
	var leak struct {
		File   string
		Record int64
		Path   string
	}
	if err := json.Unmarshal([]byte(stdout), &leak); code != 1 || err != nil || leak.Record != 31 || leak.File != victim {
		t.Fatalf("--json: exit %d %v %s", code, err, stdout)
	}
}

// Options reach the sanitizer and the metadata.
func TestSanitizeOptions(t *testing.T) {
	in, evs := sanitizeInputs(t, 800)
	key := newKeyFile(t)
	out := filepath.Join(t.TempDir(), "o")
	_, stderr, code := peertape(t, "sanitize", in, "-o", out, "--key-file", key, "--drop-kinds", "log,netmsg:inv",
		"--scrub-ports", "--keep-public-data=false", "--time-shift", "-24h", "--self", "10.1.2.3", "--drop-unknown-fields")
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	got := kindsOf(t, out)
	if got["netmsg:inv"] != 0 || got["log:unknown_log_message"] != 0 || got["netmsg:tx"] == 0 {
		t.Fatalf("kinds %v", got)
	}
	files, _ := format.Expand([]string{out})
	r, err := format.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	san := r.Meta().GetSanitization()
	flags := strings.Join(san.GetOptions(), " ")
	for _, f := range []string{"--scrub-ports=true", "--keep-public-data=false", "--time-shift=-24h0m0s", "--drop-kinds=log,netmsg:inv", "--drop-unknown-fields=true", "--self=<3 addresses, not recorded>"} {
		if !strings.Contains(flags, f) {
			t.Errorf("options %q lack %s", flags, f)
		}
	}
	if san.GetTimeShiftMs() != -24*3600*1000 || !r.Meta().GetLowData() {
		t.Errorf("metadata %v", r.Meta())
	}
	for r.Next() {
		ev := r.RawEvent()
		if ev.Time != 0 && ev.Time >= evs[0].Time-23*3600*1000 {
			t.Fatalf("event time %d not shifted by a day", ev.Time)
		}
		m, _ := ev.Decode()
		if a := m.GetEbpfExtractor().GetMessage().GetMeta().GetAddr(); a != "" && !strings.HasSuffix(a, ":0") {
			t.Fatalf("port kept: %s", a)
		}
		if tx := m.GetEbpfExtractor().GetMessage().GetTx(); tx != nil && len(tx.GetTx().GetRaw()) > 0 {
			t.Fatal("raw tx kept with --keep-public-data=false")
		}
	}
}
