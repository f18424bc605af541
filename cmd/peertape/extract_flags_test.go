package main

import (
	"bytes"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/proto/pb"
)

// child is a peertape process started by a test.
type child struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

type lockedWriter struct{ c *child }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.stderr.Write(p)
}

// startPeertape starts the binary in the background; it is killed at
// cleanup if still running.
func startPeertape(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(binary, args...), done: make(chan error, 1)}
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, lockedWriter{c}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			t.Logf("peertape %s stderr:\n%s", strings.Join(args, " "), c.stderrString())
		}
	})
	return c
}

func (c *child) stderrString() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// interrupt sends SIGINT and returns the exit code and stdout.
func (c *child) interrupt(t *testing.T) (int, string) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, c.stdout.String()
	case <-time.After(20 * time.Second):
		t.Fatal("peertape did not stop within 20s of SIGINT")
	}
	return 0, ""
}

// subscribe returns a subscription to every subject of a fresh NATS server.
func subscribe(t *testing.T) (string, *nats.Subscription) {
	t.Helper()
	srv := testenv.NATS(t)
	nc := testenv.NATSConn(t, srv)
	sub, err := nc.SubscribeSync("*")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return srv.ClientURL(), sub
}

// nextEvent returns the next message's subject and decoded event.
func nextEvent(t *testing.T, sub *nats.Subscription, timeout time.Duration) (string, *pb.Event) {
	t.Helper()
	msg, err := sub.NextMsg(timeout)
	if err != nil {
		t.Fatalf("no NATS message within %v: %v", timeout, err)
	}
	var e pb.Event
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(msg.Data, &e); err != nil {
		t.Fatalf("subject %s: %v", msg.Subject, err)
	}
	return msg.Subject, &e
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestExtractUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"extract", "rpc"}, "--rpc-cookie-file"},
		{[]string{"extract", "rpc", "--rpc-password", "p", "--rpc-cookie-file", "c"}, "exclude each other"},
		{[]string{"extract", "rpc", "--rpc-password", "p", "--query-interval", "soon"}, "duration"},
		{[]string{"extract", "rpc", "--rpc-password", "p", "--query-interval", "0"}, "must be positive"},
		{[]string{"extract", "rpc", "--rpc-password", "p", "--rpc-host", "nohost"}, "host:port"},
		{[]string{"extract", "rpc", "--rpc-password", "p", "--embedded-nats", "--nats", "nats://h:1"}, "exclude each other"},
		{[]string{"extract", "rpc", "--rpc-password", "p", "--disable-getpeerinfo", "--disable-getmempoolinfo", "--disable-uptime",
			"--disable-getnettotals", "--disable-getmemoryinfo", "--disable-getaddrmaninfo", "--disable-getnetworkinfo",
			"--disable-getorphantxs", "--disable-getchaintxstats", "--disable-getblockchaininfo", "--disable-getrawaddrman"}, "every RPC is disabled"},
		{[]string{"extract", "p2p", "--p2p-network", "liquid"}, "--p2p-network"},
		{[]string{"extract", "p2p", "--ping-interval", "-1"}, "must be positive"},
		{[]string{"extract", "p2p", "--disable-ping", "--disable-addrv2", "--disable-invs", "--disable-feefilter"}, "every P2P event is disabled"},
		{[]string{"extract", "log"}, "exactly one of --log-file"},
		{[]string{"extract", "log", "--log-file", "a", "--log-stdin"}, "exactly one of --log-file"},
		{[]string{"extract", "log", "--log-stdin", "--from-start"}, "--from-start applies to --log-file"},
		{[]string{"extract", "log", "--log-file", "a", "--log-event-time", "later"}, "--log-event-time"},
	} {
		_, stderr, code := peertape(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.msg)
		}
	}
	for _, sub := range []string{"rpc", "p2p", "log"} {
		out, _, code := peertape(t, "extract", sub, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--embedded-nats") {
			t.Errorf("extract %s --help: exit %d\n%s", sub, code, out)
		}
	}
}
