package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/natsbus"
	"github.com/peertape/peertape/proto/pb"
	"github.com/peertape/peertape/replay"
)

const replayT0 = int64(1_775_552_833_000)

// replayNodes writes two nodes' segments with interleaved times and
// returns their paths and every event in merge order.
func replayNodes(t testing.TB, n int) ([]string, []event.Event) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	var all []event.Event
	for i, node := range []string{"alpha", "beta"} {
		evs := testevents.Mixed(n, uint64(i+1), replayT0+int64(i))
		paths = append(paths, writeSegment(t, dir, node+".seg.zst", evs, format.WriterOptions{FrameSize: 32 << 10, Meta: &pb.SegmentMeta{Node: node, CreatedMs: replayT0}}))
	}
	r, err := replay.Open(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		all = append(all, r.Event())
	}
	return paths, all
}

// summaryOf finds the --summary-json object in stderr.
func summaryOf(t testing.TB, stderr string) replaySummary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], `{"events":`) {
			var s replaySummary
			if err := json.Unmarshal([]byte(lines[i]), &s); err != nil {
				t.Fatalf("summary %q: %v", lines[i], err)
			}
			return s
		}
	}
	t.Fatalf("no JSON summary in stderr:\n%s", stderr)
	return replaySummary{}
}

func TestReplayCLIJSON(t *testing.T) {
	paths, all := replayNodes(t, 1500)
	stdout, stderr, code := peertape(t, append([]string{"replay", "--speed", "max", "--json"}, paths...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(all) {
		t.Fatalf("%d JSON lines, want %d", len(lines), len(all))
	}
	var prev int64
	nodes := map[string]int{}
	for i, l := range lines {
		var m struct {
			TimeMs int64  `json:"time_ms"`
			Node   string `json:"node"`
			Kind   string `json:"kind"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if m.TimeMs < prev || m.TimeMs != all[i].Time || m.Node != all[i].Node || m.Kind != all[i].Kind.String() {
			t.Fatalf("line %d: %+v, want time %d node %s kind %s", i, m, all[i].Time, all[i].Node, all[i].Kind)
		}
		prev = m.TimeMs
		nodes[m.Node]++
	}
	if nodes["alpha"] != 1500 || nodes["beta"] != 1500 {
		t.Errorf("events per node %v", nodes)
	}
	if !strings.Contains(stderr, "replayed 3,000 events") || !strings.Contains(stderr, "node alpha, beta") {
		t.Errorf("summary missing:\n%s", stderr)
	}
}

func TestReplayCLIUsage(t *testing.T) {
	paths, _ := replayNodes(t, 10)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"replay", paths[0]}, 2, "no sink"},
		{[]string{"replay", "--null", "--speed", "0", paths[0]}, 2, "--speed"},
		{[]string{"replay", "--null", "--speed", "fast", paths[0]}, 2, "--speed"},
		{[]string{"replay", "--nats", "nats://127.0.0.1:1", "--embedded-nats", paths[0]}, 2, "exclude each other"},
		{[]string{"replay", "--null", "--from", "yesterday-ish", paths[0]}, 2, "--from"},
		{[]string{"replay", "--null", "--only", "bogus", paths[0]}, 2, "bogus"},
		{[]string{"replay", "--null", "--skip-gaps", "-1s", paths[0]}, 2, "negative"},
		{[]string{"replay", "--null"}, 2, "requires at least 1 arg"},
		{[]string{"replay", "--null", "--from", "+2s", "--to", "+1s", paths[0]}, 1, "not after"},
		{[]string{"replay", "--null", "/nonexistent/archive.seg.zst"}, 1, "no such file"},
		{[]string{"replay", "--nats", "nats://127.0.0.1:1", paths[0]}, 1, "connect to NATS"},
		{[]string{"replay", "--null", "--node", "gamma", paths[0]}, 1, "nothing to replay"},
		{[]string{"replay", "--null", "--from", "+1h", paths[0]}, 1, "nothing to replay"},
	} {
		_, stderr, code := peertape(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, want %d with %q; stderr:\n%s", tc.args[1:], code, tc.code, tc.msg, stderr)
		}
	}
}

// TestReplayCLISeekAndFilters: --from/--to/--only/--exclude/--node through
// the CLI select what the library selects.
func TestReplayCLISeekAndFilters(t *testing.T) {
	paths, all := replayNodes(t, 2000)
	from, to := all[500].Time, all[2500].Time
	for _, tc := range []struct {
		args []string
		keep func(ev event.Event) bool
	}{
		{[]string{"--from", fmt.Sprint(from), "--to", fmt.Sprint(to)}, func(ev event.Event) bool { return ev.Time >= from && ev.Time < to }},
		{[]string{"--from", event.FormatTime(from)}, func(ev event.Event) bool { return ev.Time >= from }},
		{[]string{"--to", "+1s"}, func(ev event.Event) bool { return ev.Time < all[0].Time+1000 }},
		{[]string{"--only", "netmsg:inv,rpc"}, func(ev event.Event) bool { return ev.Selector() == "netmsg:inv" || ev.Kind == event.RPC }},
		{[]string{"--exclude", "netmsg", "--node", "beta"}, func(ev event.Event) bool { return ev.Kind != event.NetMsg && ev.Node == "beta" }},
	} {
		var want int
		for _, ev := range all {
			if tc.keep(ev) {
				want++
			}
		}
		_, stderr, code := peertape(t, append(append([]string{"replay", "--speed", "max", "--null", "--summary-json"}, tc.args...), paths...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		if s := summaryOf(t, stderr); s.Events != uint64(want) {
			t.Errorf("%v: %d events, want %d", tc.args, s.Events, want)
		}
	}
}

// natsCollector subscribes to every peer-observer subject.
type natsCollector struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

func collectNATS(t *testing.T, url string) *natsCollector {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c := &natsCollector{}
	sub, err := nc.Subscribe("*", func(m *nats.Msg) {
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *natsCollector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *natsCollector) snapshot() []*nats.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*nats.Msg(nil), c.msgs...)
}

// sameAsPublished checks that msgs are evs' bytes on their subjects.
func sameAsPublished(t *testing.T, msgs []*nats.Msg, evs []event.Event) {
	t.Helper()
	if len(msgs) != len(evs) {
		t.Fatalf("%d messages, want %d", len(msgs), len(evs))
	}
	for i, m := range msgs {
		subj := evs[i].Kind.Subject()
		if subj == "" {
			subj = "unknown"
		}
		if m.Subject != subj || !bytes.Equal(m.Data, evs[i].Raw) {
			t.Fatalf("message %d on %s, want %s on %s", i, m.Subject, evs[i].Selector(), subj)
		}
	}
}

func TestReplayCLINATS(t *testing.T) {
	srv := testenv.NATS(t)
	c := collectNATS(t, srv.ClientURL())
	paths, all := replayNodes(t, 2000)
	_, stderr, code := peertape(t, append([]string{"replay", "--speed", "max", "--nats", srv.ClientURL(), "--summary-json"}, paths...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	s := summaryOf(t, stderr)
	if s.Events != uint64(len(all)) || s.Files != 2 || s.Stopped || len(s.Sinks) != 1 || !strings.HasPrefix(s.Sinks[0], "nats ") {
		t.Errorf("summary %+v", s)
	}
	// The replay flushed before exiting: the server has every message.
	pollUntil(t, "every message", func() bool { return c.count() >= len(all) })
	sameAsPublished(t, c.snapshot(), all)
}

// TestReplayCLISIGINT: SIGINT stops a paced replay promptly, the summary is
// printed, and everything the summary counts reached NATS — exactly the
// first events of the archive, in order.
func TestReplayCLISIGINT(t *testing.T) {
	srv := testenv.NATS(t)
	c := collectNATS(t, srv.ClientURL())
	// Ten minutes of events, 10 ms apart: only the start gets replayed.
	evs := testevents.Mixed(60_000, 3, replayT0)
	for i := range evs {
		evs[i] = retime(t, evs[i], replayT0+int64(i)*10)
	}
	p := writeSegment(t, t.TempDir(), "long.seg.zst", evs, format.WriterOptions{})
	proc := startProc(t, "replaying", "replay", "--nats", srv.ClientURL(), "--summary-json", p)
	pollUntil(t, "events on NATS", func() bool { return c.count() >= 50 })
	start := time.Now()
	if code := proc.signal(syscall.SIGINT, 5*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT:\n%s", code, proc.Stderr())
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v to stop", took)
	}
	s := summaryOf(t, proc.Stderr())
	if !s.Stopped || s.Events < 50 || s.Events > 10_000 {
		t.Fatalf("summary %+v", s)
	}
	// The publisher was flushed before the summary: the server got every
	// counted event; give the subscriber a moment to receive them.
	pollUntil(t, "all counted events", func() bool { return c.count() >= int(s.Events) })
	sameAsPublished(t, c.snapshot(), evs[:s.Events])
}

// retime returns ev with its timestamp set to ms.
func retime(t testing.TB, ev event.Event, ms int64) event.Event {
	t.Helper()
	m, err := ev.Decode()
	if err != nil {
		t.Fatal(err)
	}
	m.Timestamp = &[]uint64{uint64(ms)}[0]
	out, err := event.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReplayCLIEmbeddedLoop: --embedded-nats serves peer-observer's
// subjects; with --loop a subscriber that connects at any moment sees
// complete passes of the archive, in order, until SIGINT.
func TestReplayCLIEmbeddedLoop(t *testing.T) {
	paths, all := replayNodes(t, 300)
	proc := startProc(t, "embedded NATS server running", append([]string{"replay", "--embedded-nats", "--listen", "127.0.0.1:0", "--loop", "--speed", "100", "--summary-json"}, paths...)...)
	url, _ := proc.findLog("embedded NATS server running")["url"].(string)
	c := collectNATS(t, url)
	pollUntil(t, "two passes", func() bool { return c.count() >= 2*len(all)+1 })
	if code := proc.signal(syscall.SIGINT, 5*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, proc.Stderr())
	}
	msgs := c.snapshot()
	start := -1
	for i, m := range msgs {
		if bytes.Equal(m.Data, all[0].Raw) {
			start = i
			break
		}
	}
	if start < 0 || start+len(all) > len(msgs) {
		t.Fatalf("no complete pass among %d messages", len(msgs))
	}
	sameAsPublished(t, msgs[start:start+len(all)], all)
	if s := summaryOf(t, proc.Stderr()); s.Passes < 2 || !s.Stopped {
		t.Errorf("summary %+v", s)
	}
}

// TestReplayCLIDamaged: a damaged frame is reported with file and frame,
// everything else is replayed, and the exit code is 1.
func TestReplayCLIDamaged(t *testing.T) {
	dir := t.TempDir()
	evs := testevents.Mixed(4000, 4, replayT0)
	p := writeSegment(t, dir, "d.seg.zst", evs, format.WriterOptions{FrameSize: 16 << 10})
	r, err := format.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fi := r.Index().Frames[2]
	r.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := fi.Offset + fi.CompressedLen/2; i < fi.Offset+fi.CompressedLen/2+16; i++ {
		b[i] ^= 0xa5
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := peertape(t, "replay", "--speed", "max", "--null", "--summary-json", p)
	if code != 1 || !strings.Contains(stderr, "d.seg.zst: frame 2") || !strings.Contains(stderr, "every readable event was replayed") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	s := summaryOf(t, stderr)
	if s.Problems == 0 || s.Events < uint64(len(evs))-fi.Events {
		t.Errorf("summary %+v (frame 2 held %d events)", s, fi.Events)
	}
}

// testReplaySink is registered from this test file the way another
// command file (the analyzers') adds a sink: it checks the provider hooks
// through an in-process run.
type testReplaySink struct {
	enabled  bool
	events   int
	advances []int64
	closed   int
	stats    replay.Stats
	env      replayEnv
}

var testSink = &testReplaySink{}

func init() { registerReplaySink(testSink) }

func (p *testReplaySink) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&p.enabled, "test-sink", false, "test only")
}

func (p *testReplaySink) Sinks(_ context.Context, env replayEnv) ([]replaySink, error) {
	if !p.enabled {
		return nil, nil
	}
	p.env = env
	return []replaySink{{
		Sink:        event.SinkFunc(func(event.Event) error { p.events++; return nil }),
		Description: "test",
		Advance:     func(ms int64) { p.advances = append(p.advances, ms) },
		Close: func(_ context.Context, st replay.Stats) error {
			p.closed++
			p.stats = st
			return nil
		},
	}}, nil
}

func TestReplaySinkRegistry(t *testing.T) {
	paths, all := replayNodes(t, 500)
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"replay", "--test-sink", "--speed", "max"}, paths...), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	p := testSink
	if p.events != len(all) || p.closed != 1 || p.stats.Events != uint64(len(all)) {
		t.Fatalf("events %d closed %d stats %+v", p.events, p.closed, p.stats)
	}
	if p.env.Replay == nil || len(p.env.Replay.Files()) != 2 || !strings.Contains(stderr.String(), "sinks=test") {
		t.Errorf("env %+v, stderr %s", p.env, stderr.String())
	}
	for i := 1; i < len(p.advances); i++ {
		if p.advances[i] <= p.advances[i-1] {
			t.Fatalf("advance went from %d to %d", p.advances[i-1], p.advances[i])
		}
	}
	if got, want := p.advances[len(p.advances)-1], all[len(all)-1].Time+1; got != want {
		t.Errorf("last advance %d, want %d", got, want)
	}
}

func TestParseSpeed(t *testing.T) {
	for in, want := range map[string]float64{"1": 1, "0.5": 0.5, "10x": 10, "MAX": replay.Max, " 100 ": 100} {
		got, err := parseSpeed(in)
		if err != nil || got != want {
			t.Errorf("parseSpeed(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "fast", "", "NaN", "inf0"} {
		if _, err := parseSpeed(in); err == nil {
			t.Errorf("parseSpeed(%q) accepted", in)
		}
	}
}

func TestCRLFWriter(t *testing.T) {
	var b bytes.Buffer
	w := &crlfWriter{w: &b}
	for _, s := range []string{"a\nb", "\n", "c\r\nd\n\n"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "a\r\nb\r\nc\r\nd\r\n\r\n" {
		t.Errorf("got %q", got)
	}
}

func TestInterruptReader(t *testing.T) {
	cancelled := 0
	r := interruptReader{r: strings.NewReader(" n\x03+\x1c"), cancel: func() { cancelled++ }}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != " n+" || cancelled != 2 {
		t.Errorf("got %q, %v, cancelled %d", got, err, cancelled)
	}
}

func TestProgressText(t *testing.T) {
	p := replay.Progress{Events: 12345, Time: replayT0 + 60_000, First: replayT0, Last: replayT0 + 660_000, Pass: 1, Speed: 10, Lag: 1500 * time.Microsecond}
	head, tail := progressText(p, 2000)
	if head != "2026-04-07T09:08:13.000Z" || tail != "12,345 ev  2,000 ev/s  10x  lag 1.50ms  ETA 1m0s" {
		t.Errorf("got %q %q", head, tail)
	}
	p.Paused = true
	if _, tail := progressText(p, 0); tail != "12,345 ev  0 ev/s  PAUSED  lag 1.50ms" {
		t.Errorf("paused: %q", tail)
	}
	p.Paused, p.Speed, p.Pass = false, replay.Max, 3
	// Unpaced: 12,345 events took 60 s of event time; 600 s are left at
	// 2,000 ev/s.
	if _, tail := progressText(p, 2000); tail != "12,345 ev  2,000 ev/s  max  ETA 1m2s  pass 3" {
		t.Errorf("max: %q", tail)
	}
}

// ---- benchmarks (make bench runs them with -benchtime 1x) ----

// replayBenchArchive returns $PEERTAPE_BENCH_ARCHIVE or a generated
// archive of 1,000,000 events.
func replayBenchArchive(b *testing.B) string {
	if dir := os.Getenv("PEERTAPE_BENCH_ARCHIVE"); dir != "" {
		return dir
	}
	// Generated once into a fixed place and reused by later runs.
	dir := filepath.Join(os.TempDir(), "peertape-replay-cli-bench-1M")
	if _, err := os.Stat(filepath.Join(dir, "bench.seg.zst")); err == nil {
		return dir
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		b.Fatal(err)
	}
	evs := testevents.Mixed(1_000_000, 1, replayT0)
	writeSegment(b, tmp, "bench.seg.zst", evs, format.WriterOptions{EventTimeFlush: format.DefaultFlushInterval, Meta: &pb.SegmentMeta{Node: "bench", CreatedMs: replayT0}})
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	return dir
}

// replayManyFiles returns a directory of 1,000 segments of one node
// (2,000 events each), cached next to the bench archive (or in the temp
// directory) between runs.
func replayManyFiles(b *testing.B) string {
	base := os.Getenv("PEERTAPE_BENCH_ARCHIVE")
	dir := filepath.Join(os.TempDir(), "peertape-replay-1000-files")
	if base != "" {
		dir = filepath.Join(filepath.Dir(filepath.Clean(base)), "replay-1000-files")
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) == 1000 {
		return dir
	}
	os.RemoveAll(dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		b.Fatal(err)
	}
	evs := testevents.Mixed(2_000_000, 9, replayT0)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			chunk := evs[i*2000 : (i+1)*2000]
			name := format.SegmentName("many", time.UnixMilli(chunk[0].Time), uint64(i))
			writeSegment(b, tmp, name, chunk, format.WriterOptions{Meta: &pb.SegmentMeta{Node: "many", CreatedMs: chunk[0].Time}})
		}()
	}
	wg.Wait()
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	return dir
}

// replayRSS runs the binary through the rusage helper of merge_test.go
// (rssHelperEnv) and returns its exit code, peak RSS in bytes and stderr.
func replayRSS(tb testing.TB, args ...string) (int, int64, string) {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{binary}, args...)...)
	cmd.Env = append(os.Environ(), rssHelperEnv+"=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	if cmd.ProcessState == nil {
		tb.Fatalf("run %v: %s", args, stderr.String())
	}
	peak, err := strconv.ParseInt(strings.TrimSpace(stdout.String()), 10, 64)
	if err != nil {
		tb.Fatalf("rss helper printed %q: %v", stdout.String(), err)
	}
	return cmd.ProcessState.ExitCode(), peak, stderr.String()
}

// benchReplayCLI runs the binary, reporting events/s and its peak RSS.
func benchReplayCLI(b *testing.B, args ...string) replaySummary {
	var s replaySummary
	var peak int64
	for i := 0; i < b.N; i++ {
		code, rss, stderr := replayRSS(b, append([]string{"replay", "--summary-json"}, args...)...)
		if code != 0 {
			b.Fatalf("exit %d: %s", code, stderr)
		}
		s = summaryOf(b, stderr)
		peak = max(peak, rss)
	}
	b.ReportMetric(s.EventsPerSecond, "events/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	return s
}

// BenchmarkReplayCLINull: the real binary, --speed max into --null, on the
// bench archive: throughput and peak RSS (target < 100 MiB).
func BenchmarkReplayCLINull(b *testing.B) {
	benchReplayCLI(b, "--speed", "max", "--null", replayBenchArchive(b))
}

// BenchmarkReplayCLI1000Files: the same over 1,000 segment files of one
// node: memory stays bounded because files are opened one after another.
func BenchmarkReplayCLI1000Files(b *testing.B) {
	dir := replayManyFiles(b)
	s := benchReplayCLI(b, "--speed", "max", "--null", dir)
	b.ReportMetric(float64(s.MaxOpenFiles), "max-open-files")
}

// BenchmarkReplayCLIEmbeddedNATS: --speed max into --embedded-nats (no
// subscribers: what the binary can publish).
func BenchmarkReplayCLIEmbeddedNATS(b *testing.B) {
	benchReplayCLI(b, "--speed", "max", "--embedded-nats", "--listen", "127.0.0.1:0", replayBenchArchive(b))
}

// BenchmarkReplayCLIPacing: the binary at --speed 1 (5 s of event time)
// and --speed 100 (500 s) into NATS with a subscriber: lag of actual
// behind scheduled send times.
func BenchmarkReplayCLIPacing(b *testing.B) {
	srv, err := natsbus.StartServer(natsbus.ServerOptions{Port: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	dir := replayBenchArchive(b)
	for _, tc := range []struct{ speed, window string }{{"1", "+5s"}, {"100", "+500s"}} {
		b.Run("speed"+tc.speed, func(b *testing.B) {
			s := benchReplayCLI(b, "--speed", tc.speed, "--to", tc.window, "--nats", srv.ClientURL(), dir)
			b.ReportMetric(s.LagP50Ms*1000, "lag-p50-µs")
			b.ReportMetric(s.LagP99Ms*1000, "lag-p99-µs")
			b.ReportMetric(s.LagMaxMs*1000, "lag-max-µs")
		})
	}
}
