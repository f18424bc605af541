package main

import (
	"bufio"
	"bytes"
	bin "encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peertape/peertape/bpf/bpftest"
)

// TestRecordEBPF records fakecore's tracepoints in-process with
// `peertape record --ebpf` and reads the segment back with cat.
func TestRecordEBPF(t *testing.T) {
	bpftest.Require(t)
	fcBin := bpftest.Binary(t, "-O2")
	fc := bpftest.Start(t, fcBin)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "bitcoind.pid")
	if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", fc.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	segs := filepath.Join(dir, "segs")
	cmd := exec.Command(binary, "record", "--dir", segs, "--node", "alice", "--metrics-addr", "127.0.0.1:0",
		"--ebpf", "--bitcoind-path", fcBin, "--pid-file", pidFile, "--max-delay", "5ms")
	errp, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(errp)
	var metricsAddr string
	for metricsAddr == "" && sc.Scan() {
		if m := metricsAddrRE.FindStringSubmatch(sc.Text()); m != nil {
			metricsAddr = m[1]
		}
	}
	if metricsAddr == "" {
		t.Fatal("recorder exited before serving metrics")
	}
	go io.Copy(os.Stderr, errp)

	fc.Wait("net:inbound_message", "validation:block_connected")
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(body, []byte("peertape_ebpf_attached 1\n")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("extractor did not attach within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	fc.Do("msg out 3 198.51.100.9:8333 block-relay-only ping %s", fc.Payload(bin.LittleEndian.AppendUint64(nil, 99)))
	fc.Do("block %s 900001 5 6 7 8", strings.Repeat("cd", 32))
	// The recorder shuts down cleanly on SIGINT, handing over what the
	// extractor still holds.
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("record after SIGINT: %v", err)
	}

	out, stderr, code := peertape(t, "cat", "--json", segs)
	if code != 0 {
		t.Fatalf("cat: exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"kind":"netmsg","type":"ping","node":"alice"`, `"kind":"validation","type":"block_connected","node":"alice"`, `"height":900001`} {
		if !strings.Contains(out, want) {
			t.Errorf("recorded events lack %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("%d events recorded, want 2:\n%s", n, out)
	}
	_, stderr, code = peertape(t, "record", "--dir", segs, "--node", "alice", "--bitcoind-path", fcBin, "--pid", "1")
	if code != exitUsage || !strings.Contains(stderr, "need --ebpf") {
		t.Errorf("ebpf flags without --ebpf: exit %d, %s", code, stderr)
	}
}
