package event

import (
	"context"
	"errors"

	"github.com/peertape/peertape/proto/pb"
)

// Sink consumes events in stream order. Consume may keep ev (and ev.Raw).
// An error stops the source that feeds the sink.
type Sink interface {
	Consume(ev Event) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ev Event) error

// Consume calls f(ev).
func (f SinkFunc) Consume(ev Event) error { return f(ev) }

// Source produces events into a sink until it is exhausted (Run returns
// nil), the context is cancelled (Run returns the context's error) or the
// sink or the source fails.
type Source interface {
	Run(ctx context.Context, sink Sink) error
}

// GapSink is implemented by sinks that record stretches in which a source
// could not deliver events (for example a NATS outage). Sources report a
// gap once it has ended.
type GapSink interface {
	Gap(g *pb.Gap)
}

// NodeInfo describes the monitored node as a source learns it (from a
// version message's user agent or getnetworkinfo).
type NodeInfo struct {
	Implementation string // "Bitcoin Core", "Bitcoin Knots", "btcd", ...
	Version        string // as the node reports it, e.g. "/Satoshi:29.0.0/"
	Network        string // mainnet, testnet4, signet, regtest, ...
}

// NodeInfoSink is implemented by sinks that record node facts (the recorder
// puts them into segment metadata).
type NodeInfoSink interface {
	NodeInfo(info NodeInfo)
}

// Tee returns a sink that passes every event to each sink in turn and
// forwards gaps and node info to those that accept them. The first error
// stops the event there and is returned.
func Tee(sinks ...Sink) Sink {
	if len(sinks) == 1 {
		return sinks[0]
	}
	return tee(sinks)
}

type tee []Sink

func (t tee) Consume(ev Event) error {
	for _, s := range t {
		if err := s.Consume(ev); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) Gap(g *pb.Gap) {
	for _, s := range t {
		if gs, ok := s.(GapSink); ok {
			gs.Gap(g)
		}
	}
}

func (t tee) NodeInfo(info NodeInfo) {
	for _, s := range t {
		if ns, ok := s.(NodeInfoSink); ok {
			ns.NodeInfo(info)
		}
	}
}

// Filtered returns a sink that passes only events f matches to sink. Gaps
// and node info pass through unfiltered.
func Filtered(f *Filter, sink Sink) Sink {
	if f.Empty() {
		return sink
	}
	return &filtered{f: f, tee: tee{sink}}
}

type filtered struct {
	f *Filter
	tee
}

func (s *filtered) Consume(ev Event) error {
	if !s.f.Match(ev) {
		return nil
	}
	return s.tee[0].Consume(ev)
}

// ErrStop may be returned by a sink to end a source early without error:
// sources treat it as a normal end.
var ErrStop = errors.New("stop")
