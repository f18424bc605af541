// Package testenv starts the real components tests need — an embedded NATS
// server, btcd nodes — and stops them with t.Cleanup.
package testenv

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/peertape/peertape/natsbus"
)

// NATS starts an embedded NATS server on a random loopback port with
// peer-observer's 5 MiB max payload and returns it.
func NATS(t testing.TB) *natsbus.Server {
	t.Helper()
	s, err := natsbus.StartServer(natsbus.ServerOptions{Port: -1})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NATSConn connects a client to s and closes it at cleanup.
func NATSConn(t testing.TB, s *natsbus.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect to %s: %v", s.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}
