package main

import (
	"bufio"
	"bytes"
	bin "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/bpf/bpftest"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/proto/pb"
)

func TestExtractEBPFUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"extract", "ebpf", "--pid", "1"}, "--bitcoind-path is required"},
		{[]string{"extract", "ebpf", "--bitcoind-path", "x"}, "exactly one of --pid and --pid-file"},
		{[]string{"extract", "ebpf", "--bitcoind-path", "x", "--pid", "1", "--pid-file", "f"}, "exactly one of --pid and --pid-file"},
		{[]string{"extract", "ebpf", "--bitcoind-path", "x", "--pid", "1", "--no-p2pmsg-tracepoints", "--no-connection-tracepoints",
			"--no-mempool-tracepoints", "--no-validation-tracepoints"}, "every tracepoint group is disabled"},
		{[]string{"extract", "ebpf", "--bitcoind-path", "x", "--pid", "1", "--embedded-nats", "--nats", "nats://h:1"}, "exclude each other"},
		{[]string{"extract", "ebpf", "--bitcoind-path", "x", "--pid", "1", "--big-ring-size", "1MiB"}, "big ring buffer"},
		{[]string{"extract", "ebpf", "--bitcoind-path", "x", "--pid", "1", "stray"}, "unknown command"},
	} {
		_, stderr, code := peertape(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.msg)
		}
	}
	out, _, code := peertape(t, "extract", "ebpf", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--no-mempool-tracepoints") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

// TestExtractEBPFUnprivileged runs the command as nobody: it must say
// which privilege is missing, not fail somewhere inside the kernel.
func TestExtractEBPFUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process as nobody")
	}
	dir, err := os.MkdirTemp("", "peertape-nobody")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "peertape")
	b, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "extract", "ebpf", "--bitcoind-path", "/bin/true", "--pid", "1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitError {
		t.Fatalf("exit %v, want 1; stderr %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "missing requirement: privileges to load BPF programs and open uprobes: CAP_BPF and CAP_PERFMON") {
		t.Errorf("stderr %q does not name the missing capabilities", stderr.String())
	}
}

var metricsAddrRE = regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)

// startExtract runs `peertape extract ebpf` with args and returns it with
// the metrics address it logged.
func startExtract(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"extract", "ebpf", "--metrics-addr", "127.0.0.1:0", "--max-delay", "5ms"}, args...)...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	errp, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(errp)
	var addr string
	for sc.Scan() {
		if m := metricsAddrRE.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		t.Fatal("extractor exited before serving metrics")
	}
	go io.Copy(os.Stderr, errp) // keep the logs visible, never block the child
	return cmd, &stdout, addr
}

// TestExtractEBPFPublishes runs the command against fakecore and checks
// what reaches NATS subscribers (an external server, and the embedded
// one), the metrics endpoint, and a clean stop on SIGINT.
func TestExtractEBPFPublishes(t *testing.T) {
	bpftest.Require(t)
	fcBin := bpftest.Binary(t, "-O2")
	for _, mode := range []string{"nats", "embedded-nats"} {
		t.Run(mode, func(t *testing.T) {
			fc := bpftest.Start(t, fcBin)
			pidFile := filepath.Join(t.TempDir(), "bitcoind.pid")
			if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", fc.Pid)), 0o644); err != nil {
				t.Fatal(err)
			}
			var url string
			args := []string{"--bitcoind-path", fcBin, "--pid-file", pidFile, "--no-mempool-tracepoints"}
			if mode == "nats" {
				url = testenv.NATS(t).ClientURL()
				args = append(args, "--nats", url)
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				ln.Close()
				url = "nats://" + addr
				args = append(args, "--embedded-nats", "--embedded-nats-addr", addr)
			}
			cmd, stdout, metricsAddr := startExtract(t, args...)
			fc.Wait("net:inbound_message", "validation:block_connected")
			// Semaphores rise just before the breakpoints are written:
			// wait for the extractor to report every probe attached.
			scrape := func() []byte {
				resp, err := http.Get("http://" + metricsAddr + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return body
			}
			for deadline := time.Now().Add(10 * time.Second); !bytes.Contains(scrape(), []byte("peertape_ebpf_attached 1\n")); {
				if time.Now().After(deadline) {
					t.Fatal("extractor did not report attached within 10s")
				}
				time.Sleep(5 * time.Millisecond)
			}
			nc, err := nats.Connect(url)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			sub, err := nc.SubscribeSync("*")
			if err != nil {
				t.Fatal(err)
			}
			nc.Flush()

			payload := fc.Payload(bin.LittleEndian.AppendUint64(nil, 0xabcdef))
			fc.Do("msg in 11 198.51.100.1:8333 inbound ping %s", payload)
			fc.Do("block %s 900000 1 2 3 4", strings.Repeat("ab", 32))
			want := map[string]func(*pb.Event) bool{
				"netmsg": func(e *pb.Event) bool {
					m := e.GetEbpfExtractor().GetMessage()
					return m.GetPing().GetValue() == 0xabcdef && m.GetMeta().GetPeerId() == 11 && m.GetMeta().GetInbound() &&
						m.GetMeta().GetAddr() == "198.51.100.1:8333" && m.GetMeta().GetConnType() == pb.ConnType_Inbound
				},
				"validation": func(e *pb.Event) bool {
					b := e.GetEbpfExtractor().GetValidation().GetBlockConnected()
					return b.GetHeight() == 900000 && bytes.Equal(b.GetHash(), bytes.Repeat([]byte{0xab}, 32))
				},
			}
			for range want {
				msg, err := sub.NextMsg(10 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				ev, err := event.Parse(msg.Data)
				if err != nil {
					t.Fatal(err)
				}
				var e pb.Event
				if err := proto.Unmarshal(msg.Data, &e); err != nil {
					t.Fatal(err)
				}
				check, ok := want[msg.Subject]
				if !ok || ev.Kind.Subject() != msg.Subject || !check(&e) {
					t.Errorf("on %s: %v", msg.Subject, &e)
				}
			}

			body := scrape()
			for _, line := range []string{
				`peertape_ebpf_events_total{tracepoint="net:inbound_message"} 1`,
				`peertape_ebpf_events_total{tracepoint="validation:block_connected"} 1`,
				`peertape_ebpf_attached 1`,
				`peertape_ebpf_probes_attached 8`,
			} {
				if !bytes.Contains(body, []byte(line+"\n")) {
					t.Errorf("metrics lack %q", line)
				}
			}
			if promtool, err := exec.LookPath("promtool"); err == nil {
				check := exec.Command(promtool, "check", "metrics")
				check.Stdin = bytes.NewReader(body)
				if out, err := check.CombinedOutput(); err != nil {
					t.Errorf("promtool check metrics: %v\n%s", err, out)
				}
			}

			cmd.Process.Signal(os.Interrupt)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("after SIGINT: %v", err)
			}
			if !strings.Contains(stdout.String(), "published 2 events (0 refused by NATS)") {
				t.Errorf("stdout %q", stdout.String())
			}
		})
	}
}
