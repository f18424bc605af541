package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestNatsCommandMaxPayload: --max-payload sets the server's max_payload,
// and a bad value is a usage error.
func TestNatsCommandMaxPayload(t *testing.T) {
	p := startProc(t, "NATS server running", "nats", "--listen", "127.0.0.1:0", "--max-payload", "8MiB")
	nc, err := nats.Connect(p.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	mp := nc.MaxPayload()
	nc.Close()
	if mp != 8<<20 {
		t.Fatalf("max_payload %d, want 8 MiB", mp)
	}
	if code := p.signal(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, stderr, code := peertape(t, "nats", "--max-payload", "lots"); code != 2 {
		t.Fatalf("--max-payload lots: exit %d, want 2\n%s", code, stderr)
	}
}
