// Package bpftest runs fakecore, the stand-in for bitcoind that peertape's
// eBPF tests attach to: a C program (bpf/testdata/fakecore.c) with Bitcoin
// Core's USDT probes and semaphores, built by the test with the system C
// compiler and driven line by line over stdin.
package bpftest

import (
	"bufio"
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

	"github.com/peertape/peertape/bpf"
)

// Require skips the test when this process cannot trace, naming what is
// missing (privileges or a kernel feature).
func Require(t testing.TB) {
	t.Helper()
	if err := bpf.Requirements(); err != nil {
		t.Skipf("eBPF test skipped: %v", err)
	}
}

var (
	buildMu sync.Mutex
	builds  = map[string]string{}
)

// source is bpf/testdata/fakecore.c, found from this file's location so
// that tests in any package can build it.
func source() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "fakecore.c")
}

// Binary compiles fakecore with the system C compiler (cc) and the given
// optimisation flag, once per test binary and flag. It skips when there is
// no compiler or no sys/sdt.h.
func Binary(t testing.TB, opt string) string {
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
	// Other users (tests dropping privileges) may need to run it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "fakecore"+opt)
	b, err := exec.Command(cc, opt, "-g", "-Wall", "-o", out, source(), "-lpthread").CombinedOutput()
	if err != nil {
		if strings.Contains(string(b), "sys/sdt.h") {
			t.Skipf("sys/sdt.h missing (Debian package systemtap-sdt-dev): %s", b)
		}
		t.Fatalf("build fakecore: %v\n%s", err, b)
	}
	builds[opt] = out
	return out
}

// FakeCore is one running fakecore process.
type FakeCore struct {
	Pid   int
	t     testing.TB
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	dir   string
	files int
}

// Start runs fakecore and waits until it is ready. It is killed when the
// test ends.
func Start(t testing.TB, binary string) *FakeCore {
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
	fc := &FakeCore{t: t, cmd: cmd, in: in, out: bufio.NewReader(outp), dir: t.TempDir()}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := fc.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("fakecore did not start: %q %v", line, err)
	}
	fc.Pid, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))
	return fc
}

// Do sends one command (see fakecore.c) and returns what follows "ok".
func (fc *FakeCore) Do(format string, args ...any) string {
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

// Wait blocks (in fakecore, with a deadline) until the semaphores of the
// named tracepoints are raised: a tracer is attaching to them. The kernel
// raises a semaphore just before it writes the probe's breakpoint, so a
// test must also wait for the tracer to report that it has attached before
// firing.
func (fc *FakeCore) Wait(names ...string) {
	fc.t.Helper()
	if r := fc.Do("wait %s", strings.Join(names, " ")); r != "" {
		fc.t.Fatalf("fakecore wait: %s", r)
	}
}

// Payload writes b to a file fakecore can read and returns its path ("-"
// for an empty payload).
func (fc *FakeCore) Payload(b []byte) string {
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

// Exit stops fakecore and waits for it.
func (fc *FakeCore) Exit() {
	fc.t.Helper()
	fmt.Fprintln(fc.in, "exit")
	if err := fc.cmd.Wait(); err != nil {
		fc.t.Fatalf("fakecore exit: %v", err)
	}
}

// Tracepoints lists every tracepoint fakecore (and Bitcoin Core) has, as
// Wait names them.
var Tracepoints = []string{
	"net:inbound_message", "net:outbound_message", "net:inbound_connection", "net:outbound_connection",
	"net:closed_connection", "net:evicted_inbound_connection", "net:misbehaving_connection",
	"mempool:added", "mempool:removed", "mempool:replaced", "mempool:rejected", "validation:block_connected",
}
