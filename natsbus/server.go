// Package natsbus connects peertape to NATS the way peer-observer's tools
// use it: one event.Event protobuf per message, on single-token subjects
// named after the event kind (netmsg, netconn, mempool, validation, rpc,
// p2p-extractor, log-extractor, ipc), core NATS without JetStream.
//
// It offers an embedded server (so a node needs no separate nats-server), a
// Publisher sink and a Subscriber source.
package natsbus

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultMaxPayload is the max_payload peer-observer requires: a block
// message event is up to about 4 MB plus protobuf overhead.
const DefaultMaxPayload = 5 << 20

// ServerOptions configures an embedded NATS server. The zero value listens
// on 127.0.0.1:4222 with a 5 MiB max payload.
type ServerOptions struct {
	Host       string // default 127.0.0.1
	Port       int    // default 4222; -1 picks a free port
	MaxPayload int32  // default DefaultMaxPayload
	Logger     *slog.Logger
}

// Server is a running embedded NATS server.
type Server struct {
	s *server.Server
}

// StartServer starts an embedded NATS server and waits until it accepts
// connections.
func StartServer(o ServerOptions) (*Server, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = 4222
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s, err := server.NewServer(&server.Options{
		Host:       o.Host,
		Port:       o.Port,
		MaxPayload: o.MaxPayload,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats on %s: %w", net.JoinHostPort(o.Host, strconv.Itoa(o.Port)), err)
	}
	s.SetLoggerV2(slogAdapter{o.Logger.With("component", "nats-server")}, false, false, false)
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats on %s: not ready after 10s (port in use?)", net.JoinHostPort(o.Host, strconv.Itoa(o.Port)))
	}
	return &Server{s: s}, nil
}

// ClientURL returns the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.s.ClientURL() }

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.s.Addr() }

// Close shuts the server down and waits for it to stop.
func (s *Server) Close() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}

// slogAdapter routes the server's log lines into slog. Notices are debug:
// the server is an implementation detail of the command the user ran.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
