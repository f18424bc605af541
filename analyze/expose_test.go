package analyze

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// promtool returns the path of the promtool binary (Debian's prometheus
// package), failing the test when it is missing: the checks below are the
// point of these tests.
func promtool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus): %v", err)
	}
	return p
}

// fullEngine is an engine with every metric family populated.
func fullEngine(t testing.TB) *Engine {
	e := newEngine(t, Options{Lists: testLists(t)})
	feed(t, e, everyGroup(t)...)
	feed(t, e, realisticMix(t, 5000, 7)...)
	feed(t, e, addrmanSnapshot(t, T0+600_000, map[uint32]string{1: "192.0.2.1", 5: "192.0.2.5"}, map[uint32]string{2: "192.0.2.2"}))
	feed(t, e, unknownLog(t, T0+600_000, pb.LogDebugCategory_CMPCTBLOCK, "Successfully reconstructed block ab with 1 txn prefilled, 2 txn from mempool (incl at least 0 from extra pool) and 0 txn requested"))
	feed(t, e, mk(t, T0+600_001, "", ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{Event: &pb.ValidationEvent_BlockConnected{BlockConnected: &pb.BlockConnected{ConnectionTime: proto64(5e8)}}}}})))
	return e
}

func TestPromtoolCheckMetrics(t *testing.T) {
	bin := promtool(t)
	e := fullEngine(t)
	var buf bytes.Buffer
	if err := e.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	// Exit 1 means a parse error; 3 means lint problems only.
	if code != 0 && code != 3 {
		t.Fatalf("promtool check metrics: exit %d:\n%s", code, out)
	}
	var upstreamNotes int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "peertape_"):
			t.Errorf("lint problem in a peertape metric: %s", line)
		case strings.HasPrefix(line, "peerobserver_"):
			upstreamNotes++
		default:
			t.Errorf("unexpected promtool output: %s", line)
		}
	}
	// peer-observer's names stay as they are: counters without _total,
	// nanoseconds. promtool must say so, or this test checks nothing.
	for _, want := range []string{
		`peerobserver_conn_inbound counter metrics should have "_total" suffix`,
		`peerobserver_p2pextractor_ping_duration_nanoseconds use base unit "seconds" instead of "nanoseconds"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("promtool output lacks %q", want)
		}
	}
	if upstreamNotes < 50 {
		t.Errorf("only %d lint notes for peerobserver_ metrics; is the exposition complete?\n%s", upstreamNotes, out)
	}
	// Every peertape metric the analyzers define is in this exposition.
	names := map[string]bool{}
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(l, "# TYPE peertape_") {
			names[strings.Fields(l)[2]] = true
		}
	}
	if len(names) < 50 {
		t.Errorf("only %d peertape_ families in the full exposition", len(names))
	}
}

// TestOpenMetricsExposition checks the live OpenMetrics output: typing of
// counters, the EOF marker, and that promtool parses it (after stamping
// every sample, which backfilling needs).
func TestOpenMetricsExposition(t *testing.T) {
	bin := promtool(t)
	e := fullEngine(t)
	var buf bytes.Buffer
	if err := e.WriteOpenMetrics(&buf); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	for _, want := range []string{
		"# TYPE peerobserver_conn_inbound unknown\npeerobserver_conn_inbound ",
		"# TYPE peertape_events counter\n",
		"peertape_events_total{kind=\"netmsg\"} ",
		"# TYPE peerobserver_p2p_addr_addresses histogram\n",
		"peerobserver_p2p_addr_addresses_bucket{direction=\"inbound\",le=\"+Inf\"} 1.0\n",
		"# TYPE peertape_ping_response_recent_seconds summary\n",
		"peertape_ping_response_recent_seconds{connection_type=\"inbound\",quantile=\"0.5\"}",
		"peertape_ping_response_recent_seconds_count{connection_type=\"inbound\"}",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("OpenMetrics lacks %q", want)
		}
	}
	if !strings.HasSuffix(s, "\n# EOF\n") {
		t.Errorf("OpenMetrics does not end with # EOF")
	}
	// Stamp every sample line and let promtool parse the result.
	var stamped strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			l = strings.TrimSuffix(l, "\n") + " 1772409600.000\n"
		}
		stamped.WriteString(l)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "live.om")
	os.WriteFile(f, []byte(stamped.String()), 0o644)
	if out, err := exec.Command(bin, "tsdb", "create-blocks-from", "openmetrics", f, filepath.Join(dir, "db")).CombinedOutput(); err != nil {
		t.Fatalf("promtool rejected the OpenMetrics exposition: %v\n%s", err, out)
	}
}

func proto64(v uint64) *uint64 { return &v }

// TestSamplerBackfill samples a replay into an OpenMetrics file, turns it
// into TSDB blocks with promtool, and reads values back with promtool tsdb
// dump.
func TestSamplerBackfill(t *testing.T) {
	bin := promtool(t)
	e := newEngine(t, Options{})
	var out bytes.Buffer
	s, err := e.NewSampler(&out, SamplerOptions{Interval: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Inbound connections at 1 s, 2 s, ..., 100 s after T0+500 ms.
	for i := 1; i <= 100; i++ {
		feed(t, e, inbound(t, T0+500+int64(i)*1000, peer{uint64(i), "192.0.2.1:1", pb.ConnType_Inbound}, uint64(i)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Boundaries 15 s .. 90 s (6) and the final sample at 100.5 s + 1 ms.
	if got := s.Samples(); got != 7 {
		t.Errorf("samples = %d, want 7", got)
	}
	file := out.String()
	if !strings.HasSuffix(file, "# EOF\n") {
		t.Fatalf("no # EOF at the end")
	}
	if n := strings.Count(file, "# TYPE peerobserver_conn_inbound unknown\n"); n != 1 {
		t.Errorf("family header appears %d times, want once", n)
	}
	if !strings.Contains(file, "peerobserver_conn_inbound 14.0 1772409615.000\npeerobserver_conn_inbound 29.0 1772409630.000\n") {
		t.Errorf("conn_inbound points not grouped in time order:\n%s", grepLines(file, "peerobserver_conn_inbound "))
	}

	dir := t.TempDir()
	om := filepath.Join(dir, "history.om")
	if err := os.WriteFile(om, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "db")
	// promtool tsdb dump insists on a WAL directory, which backfilling
	// does not create.
	os.MkdirAll(filepath.Join(db, "wal"), 0o755)
	if b, err := exec.Command(bin, "tsdb", "create-blocks-from", "openmetrics", om, db).CombinedOutput(); err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, b)
	}
	dump, err := exec.Command(bin, "tsdb", "dump", "--match", `{__name__="peerobserver_conn_inbound"}`, db).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb dump: %v\n%s", err, dump)
	}
	got := map[int64]float64{}
	re := regexp.MustCompile(`\} (\S+) (\d+)$`)
	for _, l := range strings.Split(strings.TrimSpace(string(dump)), "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		ts, _ := strconv.ParseInt(m[2], 10, 64)
		got[ts] = v
	}
	want := map[int64]float64{T0 + 15_000: 14, T0 + 30_000: 29, T0 + 45_000: 44, T0 + 60_000: 59, T0 + 75_000: 74, T0 + 90_000: 89, T0 + 100_501: 100}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("TSDB points = %v\nwant %v\ndump:\n%s", got, want, dump)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSamplerMultiPass: a memory limit that forces one pass per series
// writes the same file as one pass; a long gap repeats the last sample.
func TestSamplerMultiPass(t *testing.T) {
	evs := realisticMix(t, 3000, 11)
	// A three-hour gap, then one more event.
	evs = append(evs, ping(t, evs[len(evs)-1].Time+3*3600_000, pIn, true, 1))
	write := func(limit int64) ([]byte, int) {
		e := newEngine(t, Options{})
		var out bytes.Buffer
		s, err := e.NewSampler(&out, SamplerOptions{Interval: 5 * time.Minute, MemoryLimit: limit, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		feed(t, e, evs...)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes(), s.Samples()
	}
	one, n1 := write(0)
	many, n2 := write(1)
	if !bytes.Equal(one, many) {
		t.Errorf("multi-pass output differs from single-pass (%d vs %d bytes)", len(one), len(many))
	}
	// Boundaries every 5 minutes through the gap, plus the final sample.
	span := evs[len(evs)-1].Time - evs[0].Time
	if want := int(span/300_000) + 1; n1 != want && n1 != want+1 {
		t.Errorf("samples = %d, want about %d", n1, want)
	}
	if n1 != n2 {
		t.Errorf("sample counts differ: %d, %d", n1, n2)
	}
	// Past the windows, a repeated sample equals the one before it.
	lines := grepLines(string(one), "peertape_events_total{kind=\"netmsg\"}")
	var vals []string
	for _, l := range strings.Split(lines, "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			vals = append(vals, f[1])
		}
	}
	if len(vals) < 30 || vals[len(vals)-2] != vals[len(vals)-10] {
		t.Errorf("values through the gap: %v", vals)
	}
}

// TestSamplerAdvanceEquivalence: samples taken because AdvanceTo passed a
// boundary equal samples taken because the next event did.
func TestSamplerAdvanceEquivalence(t *testing.T) {
	evs := realisticMix(t, 4000, 5)
	write := func(advance bool) []byte {
		e := newEngine(t, Options{})
		var out bytes.Buffer
		s, err := e.NewSampler(&out, SamplerOptions{Interval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if advance {
				if err := e.AdvanceTo(ev.Time); err != nil {
					t.Fatal(err)
				}
			}
			feed(t, e, ev)
		}
		if advance {
			e.AdvanceTo(evs[len(evs)-1].Time + 1)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	if a, b := write(false), write(true); !bytes.Equal(a, b) {
		t.Errorf("AdvanceTo changed the samples")
	}
}

func TestSamplerIgnoresTimeGoingBack(t *testing.T) {
	e := newEngine(t, Options{})
	var out bytes.Buffer
	s, err := e.NewSampler(&out, SamplerOptions{Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, e, ping(t, T0, pIn, true, 1), ping(t, T0+2500, pIn, true, 2))
	// A second --loop pass starts over in event time.
	feed(t, e, ping(t, T0, pIn, true, 3), ping(t, T0+1500, pIn, true, 4))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var last float64
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && strings.HasPrefix(f[0], "peertape_last_event_timestamp_seconds") {
			ts, _ := strconv.ParseFloat(f[2], 64)
			if ts <= last {
				t.Errorf("timestamp %v after %v", ts, last)
			}
			last = ts
		}
	}
	if s.Samples() != 3 {
		t.Errorf("samples = %d, want 3 (1 s, 2 s, final)", s.Samples())
	}
}

func TestHandlerNegotiates(t *testing.T) {
	e := fullEngine(t)
	extra := prometheus.NewRegistry()
	extra.MustRegister(collectors.NewGoCollector())
	srv := httptest.NewServer(e.Handler(HandlerOptions{Extra: extra}))
	defer srv.Close()
	get := func(accept string) (string, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return resp.Header.Get("Content-Type"), string(b)
	}
	ct, body := get("")
	if ct != ContentTypeText || !strings.Contains(body, "\npeerobserver_conn_inbound ") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("text: content type %q, body has conn_inbound %v, go_goroutines %v", ct, strings.Contains(body, "\npeerobserver_conn_inbound "), strings.Contains(body, "go_goroutines"))
	}
	// What Prometheus sends.
	ct, body = get("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
	if ct != ContentTypeOpenMetrics || !strings.HasSuffix(body, "# EOF\n") || !strings.Contains(body, "# TYPE go_goroutines gauge") {
		t.Errorf("openmetrics: content type %q, ends with EOF %v", ct, strings.HasSuffix(body, "# EOF\n"))
	}
	// Without Extra, the handler serves exactly WriteText.
	var want bytes.Buffer
	e.WriteText(&want)
	plain := httptest.NewServer(e.Handler(HandlerOptions{}))
	defer plain.Close()
	resp, err := http.Get(plain.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("handler text differs from WriteText")
	}
}

func TestEventFeedsAfterScrape(t *testing.T) {
	// A scrape between events changes nothing (windows evaluated, state
	// untouched): compare with an engine never scraped.
	evs := realisticMix(t, 2000, 9)
	a, b := newEngine(t, Options{}), newEngine(t, Options{})
	for i, ev := range evs {
		feed(t, a, ev)
		feed(t, b, ev)
		if i%50 == 0 {
			a.Gather()
		}
	}
	var x, y bytes.Buffer
	a.WriteText(&x)
	b.WriteText(&y)
	if !bytes.Equal(x.Bytes(), y.Bytes()) {
		t.Error("scraping changed the exposition")
	}
	_ = event.Event{}
}
