package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
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
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/natsbus"
	"github.com/peertape/peertape/proto/pb"
)

// recProc is a running `peertape record` (or `peertape nats`) process
// whose JSON log lines are watched.
type recProc struct {
	t       testing.TB
	cmd     *exec.Cmd
	mu      sync.Mutex
	logs    []map[string]any
	stderr  bytes.Buffer
	newLog  chan struct{}
	exited  chan struct{}
	code    int
	metrics string // host:port of /metrics
	natsURL string // of --embedded-nats or `peertape nats`
}

// startProc starts the binary with JSON logs and, for record, metrics on
// a free port; it waits until the process logs ready (the "recording"
// line for record, the server line for nats).
func startProc(t testing.TB, ready string, args ...string) *recProc {
	t.Helper()
	p := &recProc{t: t, newLog: make(chan struct{}, 1), exited: make(chan struct{})}
	args = append([]string{"--log-format", "json"}, args...)
	if args[2] == "record" {
		args = append(args, "--metrics-addr", "127.0.0.1:0")
	}
	p.cmd = exec.Command(binary, args...)
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var m map[string]any
			json.Unmarshal(line, &m)
			p.mu.Lock()
			p.stderr.Write(line)
			p.stderr.WriteByte('\n')
			if m != nil {
				p.logs = append(p.logs, m)
				switch m["msg"] {
				case "serving metrics":
					p.metrics, _ = m["addr"].(string)
				case "embedded NATS server running; point the extractors at it", "NATS server running":
					p.natsURL, _ = m["url"].(string)
				}
			}
			p.mu.Unlock()
			select {
			case p.newLog <- struct{}{}:
			default:
			}
		}
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("stderr of %v:\n%s", args, p.Stderr())
		}
	})
	if ready != "" {
		p.waitLog(ready, 20*time.Second)
	}
	return p
}

func (p *recProc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// findLog returns the first log line with msg, or nil.
func (p *recProc) findLog(msg string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.logs {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

// waitLog waits for a log line with msg (or the process to exit).
func (p *recProc) waitLog(msg string, timeout time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		if l := p.findLog(msg); l != nil {
			return l
		}
		select {
		case <-p.newLog:
		case <-p.exited:
			if l := p.findLog(msg); l != nil {
				return l
			}
			p.t.Fatalf("process exited (%d) before logging %q:\n%s", p.code, msg, p.Stderr())
		case <-deadline:
			p.t.Fatalf("no %q log line within %v:\n%s", msg, timeout, p.Stderr())
		}
	}
}

// signal sends sig and waits up to limit for the exit; it returns the exit
// code and fails the test if the process is still running.
func (p *recProc) signal(sig syscall.Signal, limit time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	return p.wait(limit)
}

func (p *recProc) wait(limit time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(limit):
		p.t.Fatalf("still running %v after the signal:\n%s", limit, p.Stderr())
		return -1
	}
}

// scrape returns the process's metrics.
func (p *recProc) scrape() (map[string]*dto.MetricFamily, []byte) {
	p.t.Helper()
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
	if err != nil {
		p.t.Fatalf("parse metrics: %v", err)
	}
	return mfs, buf.Bytes()
}

// metric sums a counter or gauge over its label sets.
func (p *recProc) metric(name string) float64 {
	p.t.Helper()
	mfs, _ := p.scrape()
	var sum float64
	if mf := mfs[name]; mf != nil {
		for _, m := range mf.Metric {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// pollUntil polls cond until it holds, failing after 15 s.
func pollUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startNATS starts an embedded server the test controls (and may stop).
func startNATS(t testing.TB, port int) *natsbus.Server {
	t.Helper()
	srv, err := natsbus.StartServer(natsbus.ServerOptions{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func publisher(t testing.TB, url string) (*nats.Conn, *natsbus.Publisher) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, natsbus.NewPublisher(nc)
}

func publishAll(t testing.TB, pub *natsbus.Publisher, evs []event.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := pub.Consume(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every event of the archives in dir, in file order.
func readAll(t testing.TB, dir string) []event.Event {
	t.Helper()
	files, err := format.Expand([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Event
	for _, f := range files {
		r, err := format.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			out = append(out, r.Event())
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	return out
}

func sameBytes(t testing.TB, got, want []event.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("recorded %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Raw, want[i].Raw) {
			t.Fatalf("event %d differs:\n got %x\nwant %x", i, got[i].Raw, want[i].Raw)
		}
	}
}

func prefixOf(t testing.TB, got, want []event.Event) {
	t.Helper()
	if len(got) > len(want) {
		t.Fatalf("recorded %d events, %d were published", len(got), len(want))
	}
	sameBytes(t, got, want[:len(got)])
}

// finished checks that dir holds only complete, sound segments.
func finished(t testing.TB, dir string) {
	t.Helper()
	if p, _ := filepath.Glob(filepath.Join(dir, "*.partial")); len(p) > 0 {
		t.Fatalf("unfinished segments left: %v", p)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg.zst"))
	if len(segs) == 0 {
		t.Fatal("no segment written")
	}
	for _, s := range segs {
		rep, err := format.Verify(s)
		if err != nil || !rep.OK() {
			t.Fatalf("verify %s: %v %v", s, err, rep.Problems)
		}
	}
}

// mixedWithUnknown returns Mixed events plus events this build does not
// fully know: an unknown oneof arm and an unknown field.
func mixedWithUnknown(t testing.TB, n int) []event.Event {
	t.Helper()
	evs := testevents.Mixed(n, 5, 1_700_000_000_000)
	for _, raw := range [][]byte{
		{0x50, 0xb8, 0x17, 0x4a, 0x02, 0x08, 0x01},
		append(append([]byte{}, evs[1].Raw...), 0xfa, 0x06, 0x03, 'n', 'e', 'w'),
	} {
		ev, err := event.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return append(evs, testevents.Mixed(n, 6, 1_700_000_100_000)...)
}

// With --embedded-nats, every published payload is recorded byte for byte
// in arrival order, unknown kinds and fields included; SIGINT exits 0.
func TestRecordEmbeddedNATSByteExact(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, "recording", "record", "--dir", dir, "--node", "n1", "--embedded-nats", "--listen", "127.0.0.1:0")
	if p.natsURL == "" {
		t.Fatal("embedded NATS URL not logged")
	}
	evs := mixedWithUnknown(t, 1000)
	_, pub := publisher(t, p.natsURL)
	publishAll(t, pub, evs)
	pollUntil(t, "every event recorded", func() bool { return p.metric("peertape_record_events_total") == float64(len(evs)) })
	if code := p.signal(syscall.SIGINT, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT", code)
	}
	finished(t, dir)
	sameBytes(t, readAll(t, dir), evs)
}

// SIGINT and SIGTERM, with the NATS server gone: the recorder stops,
// finalizes the segment within 10 s and exits 0.
func TestRecordSignalsWithNATSUnreachable(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			srv := startNATS(t, -1)
			dir := t.TempDir()
			p := startProc(t, "recording", "record", "--dir", dir, "--node", "n1", "--nats", srv.ClientURL())
			evs := testevents.Mixed(500, 1, 0)
			nc, pub := publisher(t, srv.ClientURL())
			publishAll(t, pub, evs)
			pollUntil(t, "events recorded", func() bool { return p.metric("peertape_record_events_total") == 500 })
			nc.Close()
			srv.Close()
			pollUntil(t, "the recorder to notice", func() bool { return p.metric("peertape_nats_disconnects_total") >= 1 })
			if code := p.signal(sig, 10*time.Second); code != 0 {
				t.Fatalf("exit %d after %v", code, sig)
			}
			finished(t, dir)
			sameBytes(t, readAll(t, dir), evs)
			out, _, code := peertape(t, "info", "--json", dir)
			if code != 0 || !strings.Contains(out, "until shutdown") {
				t.Errorf("info does not show the outage until shutdown as a gap:\n%s", out)
			}
		})
	}
}

// kill -9 at random moments while events are published: everything
// published more than the flush interval before the kill is in the
// .partial, readable as it is; the next start recovers it.
func TestRecordKill9(t *testing.T) {
	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	srv := startNATS(t, -1)
	t.Cleanup(srv.Close)
	for round := 0; round < rounds; round++ {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			dir := t.TempDir()
			const flush = 200 * time.Millisecond
			p := startProc(t, "recording", "record", "--dir", dir, "--node", "n1", "--nats", srv.ClientURL(), "--flush-interval", flush.String())
			evs := testevents.Mixed(200_000, uint64(round), 0)
			_, pub := publisher(t, srv.ClientURL())
			// Publish in batches; acked[i] is when the server had event i.
			acked := make([]time.Time, 0, len(evs))
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; i < len(evs); i += 20 {
					select {
					case <-stop:
						return
					default:
					}
					for _, ev := range evs[i:min(i+20, len(evs))] {
						pub.Consume(ev)
					}
					if pub.Flush(context.Background()) != nil {
						return
					}
					now := time.Now()
					for range evs[i:min(i+20, len(evs))] {
						acked = append(acked, now)
					}
					time.Sleep(time.Millisecond) // a steady live rate, not a burst
				}
			}()
			delay := 700*time.Millisecond + time.Duration(rng.Int64N(int64(1300*time.Millisecond)))
			time.Sleep(delay) // a random moment: the point of the test
			killedAt := time.Now()
			p.cmd.Process.Signal(syscall.SIGKILL)
			p.wait(5 * time.Second)
			close(stop)
			<-done

			parts, _ := filepath.Glob(filepath.Join(dir, "*.seg.zst.partial"))
			if len(parts) != 1 {
				t.Fatalf("want one .partial after kill -9, have %v", parts)
			}
			r, err := format.Open(parts[0])
			if err != nil {
				t.Fatal(err)
			}
			var got []event.Event
			for r.Next() {
				got = append(got, r.Event())
			}
			r.Close()
			prefixOf(t, got, evs)
			// Slack for delivery through NATS on a loaded 2-core machine.
			cutoff := killedAt.Add(-flush - 300*time.Millisecond)
			must := 0
			for i, at := range acked {
				if at.Before(cutoff) {
					must = i + 1
				}
			}
			if len(got) < must {
				t.Fatalf("kill -9 %v after start lost events older than the flush interval: %d readable, %d acked before %v",
					delay, len(got), must, cutoff.Sub(killedAt))
			}
			t.Logf("killed after %v: %d events published, %d readable from the .partial, %d required", delay, len(acked), len(got), must)

			// The next start recovers the .partial before recording.
			p2 := startProc(t, "recording", "record", "--dir", dir, "--node", "n1", "--nats", srv.ClientURL())
			l := p2.findLog("recovered leftover segment")
			if l == nil || l["events_kept"] != float64(len(got)) {
				t.Fatalf("recovery at start: %v", l)
			}
			if code := p2.signal(syscall.SIGTERM, 10*time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
			finished(t, dir)
			sameBytes(t, readAll(t, dir), got)
		})
	}
}

// A NATS restart: the recorder keeps running, reconnects, counts the
// outage and records it as a gap that info shows.
func TestRecordNATSRestart(t *testing.T) {
	srv := startNATS(t, -1)
	_, portS, _ := net.SplitHostPort(srv.Addr().String())
	port, _ := strconv.Atoi(portS)
	dir := t.TempDir()
	p := startProc(t, "recording", "record", "--dir", dir, "--node", "n1", "--nats", srv.ClientURL())
	evs := testevents.Mixed(400, 2, 0)
	nc, pub := publisher(t, srv.ClientURL())
	publishAll(t, pub, evs[:200])
	pollUntil(t, "first half", func() bool { return p.metric("peertape_record_events_total") == 200 })
	nc.Close()
	srv.Close()
	srv2 := startNATS(t, port)
	t.Cleanup(srv2.Close)
	pollUntil(t, "reconnect", func() bool { return p.metric("peertape_nats_reconnects_total") >= 1 })
	_, pub2 := publisher(t, srv2.ClientURL())
	publishAll(t, pub2, evs[200:])
	pollUntil(t, "second half", func() bool { return p.metric("peertape_record_events_total") == 400 })
	if p.metric("peertape_nats_disconnects_total") < 1 || p.metric("peertape_record_gaps_total") < 1 {
		t.Error("outage not counted in the metrics")
	}
	if code := p.signal(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	finished(t, dir)
	sameBytes(t, readAll(t, dir), evs)
	out, _, _ := peertape(t, "info", "--json", dir)
	var sums []struct {
		Gaps []struct {
			Reason string `json:"reason"`
		} `json:"gaps"`
	}
	if err := json.Unmarshal([]byte(out), &sums); err != nil {
		t.Fatalf("info --json: %v\n%s", err, out)
	}
	if len(sums) != 1 || len(sums[0].Gaps) == 0 || !strings.Contains(sums[0].Gaps[0].Reason, "nats") {
		t.Fatalf("info shows no NATS gap:\n%s", out)
	}
}

// A second recorder on the same directory refuses to start, saying who
// holds it.
func TestRecordSecondRecorderRefused(t *testing.T) {
	srv := startNATS(t, -1)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	p := startProc(t, "recording", "record", "--dir", dir, "--node", "n1", "--nats", srv.ClientURL())
	_, stderr, code := peertape(t, "record", "--dir", dir, "--node", "n1", "--embedded-nats", "--listen", "127.0.0.1:0", "--metrics-addr", "")
	if code != exitError || !strings.Contains(stderr, "in use by another recorder") || !strings.Contains(stderr, fmt.Sprintf("pid %d", p.cmd.Process.Pid)) {
		t.Fatalf("second recorder: exit %d\n%s", code, stderr)
	}
	if code := p.signal(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("first recorder exit %d", code)
	}
}

func TestRecordUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"record", "--node", "n", "--nats", "nats://x:1"}, "--dir is required"},
		{[]string{"record", "--dir", "d", "--nats", "nats://x:1"}, "--node is required"},
		{[]string{"record", "--dir", "d", "--node", "n"}, "no source"},
		{[]string{"record", "--dir", "d", "--node", "n", "--nats", "nats://x:1", "--embedded-nats"}, "exclude each other"},
		{[]string{"record", "--dir", "d", "--node", "n", "--nats", "nats://x:1", "--fsync", "sometimes"}, "fsync policy"},
		{[]string{"record", "--dir", "d", "--node", "n", "--nats", "nats://x:1", "--only", "blocks"}, "unknown event kind"},
		{[]string{"record", "--dir", "d", "--node", "n", "--nats", "nats://x:1", "--level", "40"}, "--level 40"},
		{[]string{"record", "--dir", "d", "--node", "n", "--nats", "nats://x:1", "--max-segment-size", "lots"}, "size \"lots\""},
		{[]string{"record", "--dir", "d", "--node", "n", "--nats", "nats://x:1", "--label", "nolabel"}, "key=value"},
		{[]string{"record", "--dir", "d", "--node", "n", "--nats", "nats://x:1", "--window", "3MiB"}, "power of two"},
		{[]string{"nats", "--listen", "nohost"}, "--listen"},
	} {
		_, stderr, code := peertape(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.msg)
		}
	}
	for _, c := range []string{"record", "nats"} {
		out, _, code := peertape(t, c, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help: exit %d\n%s", c, code, out)
		}
	}
}

// The metrics endpoint: every name peertape_-prefixed, promtool-clean.
func TestRecordMetricsEndpoint(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	dir := t.TempDir()
	p := startProc(t, "recording", "record", "--dir", dir, "--node", "n1", "--embedded-nats", "--listen", "127.0.0.1:0")
	_, pub := publisher(t, p.natsURL)
	publishAll(t, pub, testevents.Mixed(100, 1, 0))
	pollUntil(t, "events", func() bool { return p.metric("peertape_record_events_total") == 100 })
	mfs, raw := p.scrape()
	for name := range mfs {
		if !strings.HasPrefix(name, "peertape_") {
			t.Errorf("metric %s lacks the peertape_ prefix", name)
		}
	}
	for _, want := range []string{"peertape_record_events_total", "peertape_record_event_bytes_total", "peertape_record_segments_rotated_total",
		"peertape_record_retention_deleted_segments_total", "peertape_record_flushes_total", "peertape_record_fsync_duration_seconds",
		"peertape_nats_disconnects_total", "peertape_nats_reconnects_total", "peertape_nats_slow_consumer_dropped_total",
		"peertape_record_write_errors_total", "peertape_record_seconds_since_last_event", "peertape_record_malformed_payloads_total",
		"peertape_process_resident_memory_bytes"} {
		if mfs[want] == nil {
			t.Errorf("no metric %s", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(raw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	p.signal(syscall.SIGTERM, 10*time.Second)
}

// --compact recompresses rotated segments in a `peertape compact` child
// under nice and ionice.
func TestRecordCompactChild(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, "recording", "record", "--dir", dir, "--node", "n1", "--embedded-nats", "--listen", "127.0.0.1:0",
		"--max-segment-size", "64KiB", "--frame-size", "32KiB", "--compact", "--compact-level", "12")
	evs := bulkyTx(t, 300, 1000)
	_, pub := publisher(t, p.natsURL)
	publishAll(t, pub, evs)
	pollUntil(t, "a compaction", func() bool {
		mfs, _ := p.scrape()
		for _, m := range mfs["peertape_record_compactions_total"].GetMetric() {
			for _, l := range m.Label {
				if l.GetValue() == "ok" && m.GetCounter().GetValue() >= 1 {
					return true
				}
			}
		}
		return false
	})
	compacted := p.findLog("segment compacted")["path"].(string)
	if code := p.signal(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	finished(t, dir)
	r, err := format.Open(compacted)
	if err != nil {
		t.Fatal(err)
	}
	lvl := r.Meta().CompressionLevel
	r.Close()
	if lvl != 12 {
		t.Fatalf("%s: level %d after --compact-level 12", compacted, lvl)
	}
	sameBytes(t, readAll(t, dir), evs)
}

// bulkyTx returns tx events with incompressible raw bytes.
func bulkyTx(t testing.TB, n, size int) []event.Event {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(size)))
	out := make([]event.Event, n)
	for i := range out {
		raw := make([]byte, size)
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		h := bytes.Repeat([]byte{byte(i)}, 32)
		ev, err := event.New(&pb.Event{Timestamp: proto.Uint64(uint64(1_700_000_000_000 + i)), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: &pb.MessageEvent{
			Meta: &pb.Metadata{PeerId: proto.Uint64(1), Addr: proto.String("10.0.0.1:8333"), ConnType: pb.ConnType_Inbound.Enum(), Command: proto.String("tx"), Inbound: proto.Bool(true), Size: proto.Uint64(uint64(size))},
			Msg:  &pb.MessageEvent_Tx{Tx: &pb.Tx{Tx: &pb.Transaction{Txid: h, Wtxid: h, Raw: raw}}},
		}}}}})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ev
	}
	return out
}

// mountTmpfs mounts a small tmpfs for disk-full tests.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount -t tmpfs not permitted here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

// Disk full on a real 4 MiB tmpfs, both ways: the free-space guard
// (default behaviour) and a raw ENOSPC (guard off). Either way earlier
// segments stay valid, the active one is finalized, nothing recorded is
// out of order, and the recorder exits 1 with the reason in its log.
func TestRecordDiskFull(t *testing.T) {
	for _, tc := range []struct {
		name, minFree, msg string
		lossless           bool
	}{
		{"guard", "1536KiB", "free disk space below the minimum", true},
		{"ENOSPC", "0", "no space left on device", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := mountTmpfs(t, "4m")
			srv := startNATS(t, -1)
			t.Cleanup(srv.Close)
			p := startProc(t, "recording", "record", "--dir", dir, "--node", "n1", "--nats", srv.ClientURL(),
				"--max-segment-size", "1MiB", "--frame-size", "64KiB", "--flush-interval", "50ms", "--min-free", tc.minFree)
			evs := bulkyTx(t, 4000, 2000) // 8 MB for 4 MiB
			_, pub := publisher(t, srv.ClientURL())
			sent := 0
			for sent < len(evs) {
				select {
				case <-p.exited:
				default:
					pub.Consume(evs[sent])
					sent++
					if sent%10 == 0 {
						pub.Flush(context.Background())
						time.Sleep(2 * time.Millisecond) // ~10 MB/s: the guard ticks every 50 ms
					}
					continue
				}
				break
			}
			if code := p.wait(15 * time.Second); code != exitError {
				t.Fatalf("exit %d, want 1", code)
			}
			if !strings.Contains(p.Stderr(), tc.msg) {
				t.Fatalf("log does not say %q:\n%s", tc.msg, p.Stderr())
			}
			finished(t, dir)
			got := readAll(t, dir)
			prefixOf(t, got, evs)
			if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg.zst")); len(segs) < 2 {
				t.Fatalf("want earlier segments too, have %v", segs)
			}
			t.Logf("published %d, recorded %d", sent, len(got))
			if tc.lossless {
				// Everything the recorder logged as received is in the segments.
				l := p.findLog("recorder finished")
				if l == nil || l["events"] != float64(len(got)) {
					t.Fatalf("recorder received %v events, segments hold %d", l["events"], len(got))
				}
			}
		})
	}
}

// `peertape nats` serves peer-observer-sized messages and stops on SIGINT.
func TestNatsCommand(t *testing.T) {
	p := startProc(t, "NATS server running", "nats", "--listen", "127.0.0.1:0")
	nc, err := nats.Connect(p.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if mp := nc.MaxPayload(); mp != 5<<20 {
		t.Fatalf("max_payload %d, want 5 MiB", mp)
	}
	sub, err := nc.SubscribeSync("netmsg")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	big := bytes.Repeat([]byte{7}, 4<<20+512<<10) // a block message
	if err := nc.Publish("netmsg", big); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil || !bytes.Equal(m.Data, big) {
		t.Fatalf("4.5 MiB message: %v", err)
	}
	if code := p.signal(syscall.SIGINT, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// benchCorpus returns up to n realistic events: from the synthetic archive
// `make bench` generates (PEERTAPE_BENCH_ARCHIVE), else testevents.Mixed.
func benchCorpus(b *testing.B, n int) []event.Event {
	b.Helper()
	if dir := os.Getenv("PEERTAPE_BENCH_ARCHIVE"); dir != "" {
		if files, err := format.Expand([]string{dir}); err == nil {
			var out []event.Event
			for _, f := range files {
				r, err := format.Open(f)
				if err != nil {
					b.Fatal(err)
				}
				for len(out) < n && r.Next() {
					out = append(out, r.Event())
				}
				r.Close()
				if len(out) >= n {
					break
				}
			}
			if len(out) > 0 {
				return out
			}
		}
	}
	return testevents.Mixed(n, 1, 1_700_000_000_000)
}

// benchRecord runs the real recorder binary against an embedded NATS
// server in this process, publishes rate events/s for dur in bursts every
// tick (tick = 1/rate: each event on its own, as peer-observer's
// extractors publish), and reports what the recorder process cost and
// whether it kept up.
func benchRecord(b *testing.B, rate int, dur, tick time.Duration, extra ...string) {
	b.Helper()
	evs := benchCorpus(b, 200_000)
	var raw int64
	for _, ev := range evs {
		raw += int64(len(ev.Raw))
	}
	srv := startNATS(b, -1)
	defer srv.Close()
	dir := b.TempDir()
	args := append([]string{"record", "--dir", dir, "--node", "bench", "--nats", srv.ClientURL()}, extra...)
	p := startProc(b, "recording", args...)
	_, pub := publisher(b, srv.ClientURL())
	cpu0, t0 := p.metric("peertape_process_cpu_seconds_total"), time.Now()

	b.ResetTimer()
	perTick := max(1, int(float64(rate)*tick.Seconds()))
	sent := 0
	for i := 0; time.Since(t0) < dur; i++ {
		if d := time.Until(t0.Add(time.Duration(i) * tick)); d > 0 {
			time.Sleep(d) // pacing the publisher at the target rate
		}
		for j := 0; j < perTick; j++ {
			pub.Consume(evs[sent%len(evs)])
			sent++
		}
	}
	if err := pub.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	pubWall := time.Since(t0)
	deadline := time.Now().Add(30 * time.Second)
	recorded := 0.0
	for time.Now().Before(deadline) {
		if recorded = p.metric("peertape_record_events_total"); recorded >= float64(sent) {
			break
		}
		if p.metric("peertape_nats_slow_consumer_dropped_total") > 0 && time.Since(t0) > dur+2*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	wall := time.Since(t0)
	cpu1 := p.metric("peertape_process_cpu_seconds_total")
	rss := p.metric("peertape_process_resident_memory_bytes")
	drops := p.metric("peertape_nats_slow_consumer_dropped_total")
	hwm, _ := readHWM(p.cmd.Process.Pid)
	b.StopTimer()
	// Peak RSS from /proc until the process is gone, shutdown included.
	// (wait4's ru_maxrss is no use here: Go starts children with
	// CLONE_VM, and exec folds the parent's high-water mark, this test
	// process with its event corpus, into the child's.)
	p.cmd.Process.Signal(syscall.SIGTERM)
	peak := hwm
	for {
		v, ok := readHWM(p.cmd.Process.Pid)
		if !ok {
			break
		}
		peak = max(peak, v)
		time.Sleep(time.Millisecond) // sampling the exiting process
	}
	if code := p.wait(10 * time.Second); code != 0 {
		b.Fatalf("recorder exit %d", code)
	}
	var onDisk uint64
	var bytes int64
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg.zst"))
	for _, s := range segs {
		r, err := format.Open(s)
		if err != nil {
			b.Fatal(err)
		}
		onDisk += r.Index().GetEvents()
		r.Close()
		st, _ := os.Stat(s)
		bytes += st.Size()
	}
	if onDisk+uint64(drops) != uint64(sent) {
		b.Errorf("published %d, on disk %d, dropped %v: %d unaccounted", sent, onDisk, drops, int64(sent)-int64(onDisk)-int64(drops))
	}
	b.ReportMetric(float64(sent)/pubWall.Seconds(), "events/s")
	b.ReportMetric(drops, "drops")
	b.ReportMetric(100*(cpu1-cpu0)/wall.Seconds(), "cpu%")
	if cpu1 > cpu0 {
		// Recorder CPU per event, which a busy machine distorts less
		// than a percentage of wall time.
		b.ReportMetric(float64(sent)/(cpu1-cpu0), "events/cpu-s")
	}
	b.ReportMetric(rss/(1<<20), "end-RSS-MiB")
	b.ReportMetric(peak, "peak-RSS-MiB")
	b.ReportMetric(float64(bytes)/float64(max(onDisk, 1)), "bytes/event")
	b.Logf("published %d events in %v (%.0f/s, %.0f B/event raw), recorded %.0f, on disk %d in %d segments, dropped %v; recorder CPU %.2f%% of one core, RSS %.1f MiB (peak %.1f MiB while recording, %.1f MiB with shutdown)",
		sent, pubWall.Round(time.Millisecond), float64(sent)/pubWall.Seconds(), float64(raw)/float64(len(evs)), recorded, onDisk, len(segs), drops,
		100*(cpu1-cpu0)/wall.Seconds(), rss/(1<<20), hwm, peak)
}

// readHWM returns the peak resident set (VmHWM) of a running process in
// MiB; ok is false once the process is gone.
func readHWM(pid int) (float64, bool) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(st), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024, true
		}
	}
	return 0, false
}

// BenchmarkRecord50k: the recorder process sustains 50,000 events/s from a
// NATS publisher for 60 s (10 s with -short) with zero drops (target).
func BenchmarkRecord50k(b *testing.B) {
	dur := 60 * time.Second
	if testing.Short() {
		dur = 10 * time.Second
	}
	for i := 0; i < b.N; i++ {
		benchRecord(b, 50_000, dur, 10*time.Millisecond)
	}
}

// BenchmarkRecordDemoRate: at peer-observer's demo-node rate (about 1,300
// events/s) the recorder process should use under 2% of one core and under
// 50 MiB RSS (targets), for 60 s (15 s with -short). "per-event" publishes
// every event on its own, as peer-observer's extractors do (one NATS
// delivery, one wakeup per event); "batched" publishes 13 events every
// 10 ms.
func BenchmarkRecordDemoRate(b *testing.B) {
	dur := 60 * time.Second
	if testing.Short() {
		dur = 15 * time.Second
	}
	for _, c := range []struct {
		name string
		tick time.Duration
	}{{"per-event", time.Second / 1300}, {"batched", 10 * time.Millisecond}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchRecord(b, 1300, dur, c.tick)
			}
		})
	}
}
