package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/peertape/peertape/analyze"
)

// A small synthetic archive with a ping backlog: 5 minutes of event time,
// about 18,000 events, one segment. Built once per test binary, next to it.
var (
	synthOnce sync.Once
	synthDir  string
	synthErr  string
)

func synthArchive(t *testing.T) string {
	t.Helper()
	synthOnce.Do(func() {
		dir := filepath.Join(filepath.Dir(binary), "synth-ping")
		out, stderr, code := peertape(t, "synth", "-o", dir, "--node", "n1", "--duration", "5m", "--rate", "60", "--seed", "3",
			"--anomaly", "ping-backlog@1m:3m")
		if code != 0 {
			synthErr = out + stderr
			return
		}
		synthDir = dir
	})
	if synthDir == "" {
		t.Fatalf("peertape synth failed:\n%s", synthErr)
	}
	return synthDir
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sumMetric sums the samples of a text-format metric (all label sets).
func sumMetric(text []byte, name string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{[^}]*\})? (\S+)$`)
	var sum float64
	for _, m := range re.FindAllSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		sum += v
	}
	return sum
}

// --metrics-out depends only on the events: at --speed max and at a paced
// speed (the 5-minute archive takes about 1.5 s at 200x) the files are
// byte-identical, and hold what the archive holds.
func TestReplayMetricsOutSpeedIndependent(t *testing.T) {
	arch := synthArchive(t)
	dir := t.TempDir()
	outs := map[string]string{"max": filepath.Join(dir, "max.txt"), "200": filepath.Join(dir, "paced.txt")}
	var events float64
	for speed, out := range outs {
		_, stderr, code := peertape(t, "replay", arch, "--speed", speed, "--metrics-out", out, "--summary-json")
		if code != 0 {
			t.Fatalf("--speed %s: exit %d\n%s", speed, code, stderr)
		}
		if speed == "max" {
			m := regexp.MustCompile(`"events":(\d+)`).FindStringSubmatch(stderr)
			if m == nil {
				t.Fatalf("no summary:\n%s", stderr)
			}
			events, _ = strconv.ParseFloat(m[1], 64)
		}
	}
	a, b := readFile(t, outs["max"]), readFile(t, outs["200"])
	if !bytes.Equal(a, b) {
		t.Errorf("--metrics-out differs between --speed max and --speed 200:\n%s", lineDiff(a, b))
	}
	if got := sumMetric(a, "peertape_events_total"); got != events || events == 0 {
		t.Errorf("peertape_events_total = %v, replay summary says %v events", got, events)
	}
	if got := sumMetric(a, `peertape_anomalies_total{kind="ping-backlog"}`); got != 1 {
		t.Errorf("ping-backlog anomalies = %v, want 1 (the injected backlog)", got)
	}
	for _, bad := range []string{"\ngo_", "\nprocess_"} {
		if bytes.Contains(a, []byte(bad)) {
			t.Errorf("--metrics-out holds %q metrics, which depend on more than the events", bad)
		}
	}
}

// lineDiff shows the first differing line of two texts.
func lineDiff(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n- " + x + "\n+ " + y
		}
	}
	return "(same lines)"
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install prometheus (the tests use it for real)")
	}
	return p
}

// promtool accepts what replay writes: check metrics finds no parse error
// and lints only peer-observer's names (kept as upstream has them); the
// --openmetrics file becomes TSDB blocks whose dump holds the samples.
func TestReplayMetricsPromtool(t *testing.T) {
	pt := promtool(t)
	arch := synthArchive(t)
	dir := t.TempDir()
	out, om := filepath.Join(dir, "metrics.txt"), filepath.Join(dir, "samples.om")
	if _, stderr, code := peertape(t, "replay", arch, "--speed", "max", "--metrics-out", out, "--openmetrics", om, "--interval", "30s"); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}

	cmd := exec.Command(pt, "check", "metrics")
	cmd.Stdin = bytes.NewReader(readFile(t, out))
	res, err := cmd.CombinedOutput()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code != 3 { // 3: lint problems only
		t.Fatalf("promtool check metrics: %v (exit %d)\n%s", err, code, res)
	}
	lint := 0
	for _, line := range strings.Split(strings.TrimSpace(string(res)), "\n") {
		if line == "" {
			continue
		}
		lint++
		if !strings.HasPrefix(line, "peerobserver_") {
			t.Errorf("promtool check metrics: %s", line)
		}
	}
	if lint == 0 {
		t.Errorf("promtool found no lint in peerobserver_* names; expected its notes about counters without _total")
	}

	samples := readFile(t, om)
	if !bytes.HasSuffix(samples, []byte("\n# EOF\n")) {
		t.Errorf("--openmetrics file does not end with # EOF")
	}
	tsdb := filepath.Join(dir, "tsdb")
	if res, err := exec.Command(pt, "tsdb", "create-blocks-from", "openmetrics", om, tsdb).CombinedOutput(); err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, res)
	}
	// promtool 2.42's dump insists on a WAL directory, which backfilling
	// does not create.
	os.MkdirAll(filepath.Join(tsdb, "wal"), 0o755)
	dump, err := exec.Command(pt, "tsdb", "dump", "--match", `{__name__="peertape_events_total"}`, tsdb).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb dump: %v\n%s", err, dump)
	}
	// 5 minutes at 30 s: about 10 samples of every series, the last one
	// at the final state.
	re := regexp.MustCompile(`(?m)^\{__name__="peertape_events_total", kind="netmsg"\} (\S+) (\d+)$`)
	pts := re.FindAllSubmatch(dump, -1)
	if len(pts) < 8 {
		t.Fatalf("tsdb dump holds %d samples of peertape_events_total{kind=netmsg}, want ≥ 8:\n%.2000s", len(pts), dump)
	}
	last, _ := strconv.ParseFloat(string(pts[len(pts)-1][1]), 64)
	if want := sumMetric(readFile(t, out), `peertape_events_total{kind="netmsg"}`); last != want {
		t.Errorf("last sample %v, --metrics-out says %v", last, want)
	}
	var prev int64
	for _, p := range pts {
		ts, _ := strconv.ParseInt(string(p[2]), 10, 64)
		if ts <= prev {
			t.Errorf("timestamps not increasing: %d after %d", ts, prev)
		}
		prev = ts
	}
}

// --metrics-addr keeps serving after the archive ended, what it serves
// (without process metrics) is the --metrics-out file, and SIGINT ends
// the command with exit 0.
func TestReplayMetricsAddrServesAfterEnd(t *testing.T) {
	arch := synthArchive(t)
	out := filepath.Join(t.TempDir(), "metrics.txt")
	p := startProc(t, "serving metrics", "replay", arch, "--speed", "max", "--metrics-addr", "127.0.0.1:0",
		"--no-process-metrics", "--metrics-out", out)
	if p.metrics == "" {
		t.Fatalf("no metrics address logged:\n%s", p.Stderr())
	}
	p.waitLog("replay finished; still serving metrics until interrupted (Ctrl-C)", 30*time.Second)
	ct, body := scrapeRaw(t, p.metrics, "")
	if ct != analyze.ContentTypeText {
		t.Errorf("content type %q", ct)
	}
	if want := readFile(t, out); !bytes.Equal(body, want) {
		t.Errorf("served exposition differs from --metrics-out:\n%s", lineDiff(body, want))
	}
	ct, om := scrapeRaw(t, p.metrics, "application/openmetrics-text;version=1.0.0")
	if ct != analyze.ContentTypeOpenMetrics || !bytes.HasSuffix(om, []byte("# EOF\n")) {
		t.Errorf("OpenMetrics scrape: content type %q", ct)
	}
	// Still there on a second look: the command waits for the signal.
	if _, again := scrapeRaw(t, p.metrics, ""); !bytes.Equal(again, body) {
		t.Errorf("exposition changed after the replay ended")
	}
	if code := p.signal(syscall.SIGINT, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGINT:\n%s", code, p.Stderr())
	}
	if p.findLog("replay finished; still serving metrics until interrupted (Ctrl-C)") == nil {
		t.Error("no notice that the exporter keeps serving")
	}
}

// With process metrics (the default), /metrics adds process_* and go_*
// to the engine's families, which stay the same bytes.
func TestReplayMetricsAddrProcessMetrics(t *testing.T) {
	arch := synthArchive(t)
	out := filepath.Join(t.TempDir(), "metrics.txt")
	p := startProc(t, "serving metrics", "replay", arch, "--speed", "max", "--metrics-addr", "127.0.0.1:0", "--metrics-out", out)
	p.waitLog("replay finished; still serving metrics until interrupted (Ctrl-C)", 30*time.Second)
	mfs, body := p.scrape()
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if mfs[name] == nil {
			t.Errorf("%s not served without --no-process-metrics", name)
		}
	}
	if got, want := dropFamilies(body, "go_", "process_"), readFile(t, out); !bytes.Equal(got, want) {
		t.Errorf("engine families differ from --metrics-out:\n%s", lineDiff(got, want))
	}
	if code := p.signal(syscall.SIGINT, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGINT", code)
	}
}

// --loop: the files describe the first pass (the same bytes as without
// --loop) and are written when the second pass starts.
func TestReplayMetricsLoopWritesFirstPass(t *testing.T) {
	arch := synthArchive(t)
	dir := t.TempDir()
	once, looped := filepath.Join(dir, "once.txt"), filepath.Join(dir, "loop.txt")
	if _, stderr, code := peertape(t, "replay", arch, "--speed", "max", "--metrics-out", once); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	p := startProc(t, "replaying", "replay", arch, "--speed", "max", "--loop", "--metrics-out", looped, "--null")
	p.waitLog("analyzers start over with the pass", 30*time.Second)
	pollUntil(t, "--metrics-out written", func() bool { _, err := os.Stat(looped); return err == nil })
	if code := p.signal(syscall.SIGINT, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGINT", code)
	}
	if a, b := readFile(t, once), readFile(t, looped); !bytes.Equal(a, b) {
		t.Errorf("--loop --metrics-out differs from a single pass:\n%s", lineDiff(b, a))
	}
}

// The live path (archive → replay --nats → peertape metrics) and the
// offline one (replay --metrics-out) expose the same bytes.
func TestReplayMetricsLiveEqualsMetricsOut(t *testing.T) {
	arch := synthArchive(t)
	out := filepath.Join(t.TempDir(), "metrics.txt")
	if _, stderr, code := peertape(t, "replay", arch, "--speed", "max", "--metrics-out", out); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	want := readFile(t, out)
	p := metricsProc(t, "--embedded-nats", "--listen", "127.0.0.1:0", "--no-process-metrics", "--node", "n1")
	if _, stderr, code := peertape(t, "replay", arch, "--speed", "max", "--nats", p.natsURL); code != 0 {
		t.Fatalf("replay --nats: exit %d\n%s", code, stderr)
	}
	total := sumMetric(want, "peertape_events_total")
	pollUntil(t, "all events consumed", func() bool { return p.metric("peertape_events_total") == total })
	_, live := scrapeRaw(t, p.metrics, "")
	if !bytes.Equal(live, want) {
		t.Errorf("live exposition (%d bytes) differs from replay --metrics-out (%d bytes):\n%s", len(live), len(want), lineDiff(live, want))
	}
	p.signal(syscall.SIGINT, 10*time.Second)
}

func TestReplayMetricsUsageErrors(t *testing.T) {
	arch := synthArchive(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("not-an-ip\n"), 0o644)
	out := filepath.Join(dir, "m.txt")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--openmetrics", out, "--interval", "0"}, 2, "--interval"},
		{[]string{"--metrics-out", out, "--tor-exit-list", bad}, 2, "--tor-exit-list"},
		{[]string{"--metrics-out", out, "--max-peers", "0"}, 2, "--max-peers"},
		{[]string{"--metrics-out", out, "--window", "0"}, 2, "--window"},
		{[]string{"--metrics-out", filepath.Join(dir, "no", "such", "dir", "m.txt")}, 1, "--metrics-out"},
		{[]string{"--metrics-addr", "256.0.0.1:1"}, 1, "--metrics-addr"},
	} {
		_, stderr, code := peertape(t, append([]string{"replay", arch, "--speed", "max"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed run left %s behind", out)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
}
