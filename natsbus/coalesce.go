package natsbus

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
	"unsafe"
)

// DefaultReadCoalesce is the default SubscriberOptions.ReadCoalesce: at
// 1,300 single-event messages/s it reads about 32 per wake-up.
const DefaultReadCoalesce = 25 * time.Millisecond

// gatherBytes is what a read must bring for the connection to be read again
// at once: half of nats.go's 32 KiB read buffer. While gathering, the
// socket's SO_RCVLOWAT is set to it, so the kernel does not report smaller
// arrivals to the runtime's poller.
const gatherBytes = 16 << 10

// coalescingDialer dials TCP like nats.go's own dialer and wraps the
// connection in a coalescingConn.
type coalescingDialer struct {
	net.Dialer
	wait time.Duration
}

func (d *coalescingDialer) Dial(network, address string) (net.Conn, error) {
	c, err := d.Dialer.Dial(network, address)
	if err != nil {
		return nil, err
	}
	cc := &coalescingConn{Conn: c, wait: d.wait}
	if sc, ok := c.(syscall.Conn); ok {
		cc.raw, _ = sc.SyscallConn()
	}
	return cc, nil
}

// coalescingConn takes messages that trickle in off the socket several at a
// time. peer-observer's extractors publish every event on its own, so at a
// node's usual ~1,300 events/s each NATS message would otherwise cost its
// own wake-up of the process and a read system call (which, with the
// process otherwise idle, also wakes the Go runtime's sysmon thread):
// measured, that was most of the recorder's CPU.
//
// After a read that found the socket nearly drained (less than
// gatherBytes), the connection "gathers": the next read first waits until
// wait has passed, with SO_RCVLOWAT raised so that the arrivals meanwhile
// do not wake the process either, then takes whatever the kernel holds
// without blocking. If that is nothing, the socket is idle: SO_RCVLOWAT
// goes back to 1 and the read blocks as usual until the next message. A
// read of gatherBytes or more ends gathering, so bursts and high rates are
// read as fast as before (half the buffer per wait is the least throughput
// gathering allows before it stops). The cost is at most wait of extra
// latency per message. nats.go reads the connection from its read loop
// only, one goroutine, so the fields need no lock.
type coalescingConn struct {
	net.Conn
	raw     syscall.RawConn // nil: not a socket; gathering then only waits
	wait    time.Duration
	drained time.Time // when the read that started gathering returned; zero while not gathering
	lowat   bool      // SO_RCVLOWAT is raised
}

func (c *coalescingConn) Read(p []byte) (int, error) {
	if c.drained.IsZero() {
		return c.read(p)
	}
	if d := c.wait - time.Since(c.drained); d > 0 {
		time.Sleep(d) // letting the kernel gather more messages; see the type comment
	}
	if c.raw == nil || !c.lowat {
		return c.read(p)
	}
	// Non-blocking: with SO_RCVLOWAT raised, a blocking read would wait
	// for gatherBytes however long that takes.
	var n int
	var rerr error
	if len(p) == 0 {
		return 0, nil
	}
	if err := c.raw.Read(func(fd uintptr) bool {
		// A raw system call: the socket is non-blocking, and
		// syscall.Read's entersyscall would wake the runtime's
		// sysmon thread, idle since the process went to sleep, for
		// every read (about half of what is left per read).
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		n = int(r)
		if e != 0 {
			n, rerr = 0, e
		}
		return true
	}); err != nil {
		return 0, err
	}
	switch {
	case n > 0:
		c.after(n)
		return n, nil
	case rerr == nil: // n == 0: end of stream
		return 0, io.EOF
	case !errors.Is(rerr, syscall.EAGAIN):
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: rerr}
	}
	// Nothing came during the wait: the socket is idle.
	c.drained = time.Time{}
	if err := c.setLowat(1); err != nil {
		// A blocking read now could wait for gatherBytes indefinitely;
		// failing makes nats.go reconnect (reported as an outage).
		return 0, fmt.Errorf("natsbus: reset SO_RCVLOWAT: %w", err)
	}
	return c.read(p)
}

// read is a plain (blocking) read that decides whether to gather next.
func (c *coalescingConn) read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == nil {
		c.after(n)
	}
	return n, err
}

func (c *coalescingConn) after(n int) {
	if n >= gatherBytes {
		c.drained = time.Time{}
		c.setLowat(1)
		return
	}
	c.drained = time.Now()
	c.setLowat(gatherBytes)
}

// setLowat sets SO_RCVLOWAT when it changes. Failing to raise it leaves
// the socket reporting every arrival, which only costs wake-ups.
func (c *coalescingConn) setLowat(v int) error {
	if c.raw == nil || c.lowat == (v > 1) {
		return nil
	}
	var serr error
	if err := c.raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, v)
	}); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	c.lowat = v > 1
	return nil
}
