package natsbus

import (
	"net"
	"time"
)

// DefaultReadCoalesce is the default SubscriberOptions.ReadCoalesce.
const DefaultReadCoalesce = 10 * time.Millisecond

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
	return &coalescingConn{Conn: c, wait: d.wait}, nil
}

// coalescingConn takes messages that trickle in off the socket several at a
// time. peer-observer's extractors publish every event on its own, so at a
// node's usual ~1,300 events/s each NATS message would otherwise cost its
// own wake-up and read system call (and, with the process otherwise idle,
// a wake-up of the Go runtime's sysmon thread, which every system call
// entered from an idle process triggers): measured, that was most of the
// recorder's CPU. After a read that found the socket nearly drained (less
// than half of the buffer filled), the next read waits until wait has
// passed since, so the kernel gathers the messages meanwhile; after a
// fuller read it goes on at once, so bursts and high rates are read as
// fast as before (a read of at least half the buffer per wait is the
// least throughput this allows before it stops waiting). The cost is at
// most wait of extra latency per message. The connection is only read
// from nats.go's read loop, one goroutine, so the fields need no lock.
type coalescingConn struct {
	net.Conn
	wait    time.Duration
	drained time.Time // when the last read that drained the socket returned; zero after a full read
}

func (c *coalescingConn) Read(p []byte) (int, error) {
	if !c.drained.IsZero() {
		if d := c.wait - time.Since(c.drained); d > 0 {
			time.Sleep(d) // letting the kernel gather more messages; see the type comment
		}
	}
	n, err := c.Conn.Read(p)
	if n < len(p)/2 {
		c.drained = time.Now()
	} else {
		c.drained = time.Time{}
	}
	return n, err
}
