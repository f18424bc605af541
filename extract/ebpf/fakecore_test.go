package ebpf

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peertape/peertape/bpf"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// requireBPF skips when this process cannot trace, naming what is missing.
func requireBPF(t testing.TB) {
	t.Helper()
	if err := bpf.Requirements(); err != nil {
		t.Skipf("eBPF test skipped: %v", err)
	}
}

var (
	buildMu sync.Mutex
	builds  = map[string]string{}
)

// fakecoreBinary compiles bpf/testdata/fakecore.c with the system C
// compiler and opt (once per test binary and opt).
func fakecoreBinary(t testing.TB, opt string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := builds[opt]; ok {
		return p
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skipf("no C compiler (cc) to build the USDT test program: %v", err)
	}
	dir, err := os.MkdirTemp("", "fakecore")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "fakecore"+opt)
	b, err := exec.Command(cc, opt, "-g", "-Wall", "-o", out, "../../bpf/testdata/fakecore.c", "-lpthread").CombinedOutput()
	if err != nil {
		if strings.Contains(string(b), "sys/sdt.h") {
			t.Skipf("sys/sdt.h missing (Debian package systemtap-sdt-dev): %s", b)
		}
		t.Fatalf("build fakecore: %v\n%s", err, b)
	}
	builds[opt] = out
	return out
}

// fakeCore is one running fakecore process.
type fakeCore struct {
	t     testing.TB
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	pid   int
	dir   string
	files int
}

func startFakeCore(t testing.TB, binary string) *fakeCore {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fc := &fakeCore{t: t, cmd: cmd, in: in, out: bufio.NewReader(outp), dir: t.TempDir()}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := fc.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("fakecore did not start: %q %v", line, err)
	}
	fc.pid, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))
	return fc
}

// do sends one command and returns what follows "ok".
func (fc *fakeCore) do(format string, args ...any) string {
	fc.t.Helper()
	line := fmt.Sprintf(format, args...)
	if _, err := fmt.Fprintln(fc.in, line); err != nil {
		fc.t.Fatalf("fakecore %q: %v", line, err)
	}
	reply, err := fc.out.ReadString('\n')
	if err != nil {
		fc.t.Fatalf("fakecore %q: %v", line, err)
	}
	reply = strings.TrimSpace(reply)
	if !strings.HasPrefix(reply, "ok") {
		fc.t.Fatalf("fakecore %q: reply %q", line, reply)
	}
	return strings.TrimSpace(strings.TrimPrefix(reply, "ok"))
}

// wait blocks (in fakecore) until the named tracepoints' semaphores are
// raised: the extractor has attached.
func (fc *fakeCore) wait(names ...string) {
	fc.t.Helper()
	if r := fc.do("wait %s", strings.Join(names, " ")); r != "" {
		fc.t.Fatalf("fakecore wait: %s", r)
	}
}

// payload writes b to a file fakecore can read and returns its path ("-"
// for an empty payload).
func (fc *fakeCore) payload(b []byte) string {
	fc.t.Helper()
	if len(b) == 0 {
		return "-"
	}
	fc.files++
	p := filepath.Join(fc.dir, fmt.Sprintf("p%d.bin", fc.files))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		fc.t.Fatal(err)
	}
	return p
}

// exit stops fakecore and waits for it.
func (fc *fakeCore) exit() {
	fc.t.Helper()
	fmt.Fprintln(fc.in, "exit")
	if err := fc.cmd.Wait(); err != nil {
		fc.t.Fatalf("fakecore exit: %v", err)
	}
}

// collector is a sink that hands events to the test.
type collector struct {
	ch   chan event.Event
	mu   sync.Mutex
	gaps []*pb.Gap
	node []event.NodeInfo
}

func newCollector() *collector { return &collector{ch: make(chan event.Event, 1<<16)} }

func (c *collector) Consume(ev event.Event) error {
	c.ch <- ev
	return nil
}

func (c *collector) Gap(g *pb.Gap) {
	c.mu.Lock()
	c.gaps = append(c.gaps, g)
	c.mu.Unlock()
}

func (c *collector) NodeInfo(n event.NodeInfo) {
	c.mu.Lock()
	c.node = append(c.node, n)
	c.mu.Unlock()
}

// next returns the next event, failing after a generous deadline.
func (c *collector) next(t testing.TB) event.Event {
	t.Helper()
	select {
	case ev := <-c.ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return event.Event{}
}

// running is an extractor started by a test.
type running struct {
	x    *Extractor
	reg  *prometheus.Registry
	sink *collector
	done chan error
	stop context.CancelFunc
}

// startExtractor runs an extractor until the test ends.
func startExtractor(t testing.TB, o Options) *running {
	t.Helper()
	r := &running{reg: prometheus.NewRegistry(), sink: newCollector(), done: make(chan error, 1)}
	o.Registerer = r.reg
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.x = x
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- x.Run(ctx, r.sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("extractor did not stop within 10s")
		}
	})
	return r
}

// metric returns the value of one series of the registry.
func (r *running) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
