package natsbus

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns a coalescingConn dialed over loopback and the server side.
func tcpPair(t *testing.T, wait time.Duration) (*coalescingConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d := &coalescingDialer{Dialer: net.Dialer{Timeout: 5 * time.Second}, wait: wait}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := <-accepted
	if srv == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); srv.Close() })
	cc := c.(*coalescingConn)
	if cc.raw == nil {
		t.Fatal("a TCP connection has no raw conn")
	}
	return cc, srv
}

func rcvlowat(t *testing.T, c *coalescingConn) int {
	t.Helper()
	var v int
	var serr error
	if err := c.raw.Control(func(fd uintptr) {
		v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

// readWithin reads once, failing the test if the read does not return
// within limit (a read stuck on a raised SO_RCVLOWAT would hang).
func readWithin(t *testing.T, c net.Conn, buf []byte, limit time.Duration) []byte {
	t.Helper()
	type res struct {
		n   int
		err error
	}
	done := make(chan res, 1)
	go func() {
		n, err := c.Read(buf)
		done <- res{n, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("read: %v", r.err)
		}
		return buf[:r.n]
	case <-time.After(limit):
		t.Fatalf("read did not return within %v", limit)
		return nil
	}
}

// TestCoalescingConn walks the states: a trickle is read after waiting,
// with SO_RCVLOWAT raised meanwhile; an idle socket drops it back to 1 so
// the next lone message is still read; a large read stops gathering; the
// end of the stream is io.EOF.
func TestCoalescingConn(t *testing.T) {
	c, srv := tcpPair(t, time.Millisecond)
	buf := make([]byte, 32<<10)

	srv.Write([]byte("a"))
	if got := readWithin(t, c, buf, 5*time.Second); string(got) != "a" {
		t.Fatalf("first read %q, want %q", got, "a")
	}
	if v := rcvlowat(t, c); v != gatherBytes {
		t.Fatalf("after a small read SO_RCVLOWAT = %d, want %d (gathering)", v, gatherBytes)
	}

	// Written before the read: the gathering read takes it without blocking.
	srv.Write([]byte("bc"))
	if got := readWithin(t, c, buf, 5*time.Second); string(got) != "bc" {
		t.Fatalf("gathering read %q, want %q", got, "bc")
	}

	// Idle: the read finds nothing after its wait, resets SO_RCVLOWAT and
	// blocks; a single byte written then must still arrive.
	type res struct {
		b   []byte
		err error
	}
	done := make(chan res, 1)
	go func() {
		n, err := c.Read(buf)
		done <- res{append([]byte(nil), buf[:n]...), err}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for rcvlowat(t, c) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("an idle gathering read did not reset SO_RCVLOWAT to 1")
		}
		time.Sleep(time.Millisecond) // polling the socket option the reader resets
	}
	srv.Write([]byte("d"))
	select {
	case r := <-done:
		if r.err != nil || string(r.b) != "d" {
			t.Fatalf("read after idle = %q, %v; want %q", r.b, r.err, "d")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a lone message after an idle spell was not read")
	}

	// A burst arrives byte-exact and in order; a read of gatherBytes or
	// more ends gathering.
	burst := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB
	go srv.Write(burst)
	var got []byte
	full := 0
	for len(got) < len(burst) {
		b := readWithin(t, c, buf, 5*time.Second)
		if len(b) >= gatherBytes {
			full++
			if !c.drained.IsZero() || rcvlowat(t, c) != 1 {
				t.Fatalf("a read of %d bytes kept gathering (SO_RCVLOWAT %d)", len(b), rcvlowat(t, c))
			}
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, burst) {
		t.Fatalf("burst of %d bytes read back as %d bytes, not byte-exact", len(burst), len(got))
	}
	if full == 0 {
		t.Fatalf("a 64 KiB burst was never read %d bytes at a time", gatherBytes)
	}

	srv.Close()
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want io.EOF", err)
	}
}
