package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/peertape/peertape/event"
	logextract "github.com/peertape/peertape/extract/log"
	"github.com/peertape/peertape/extract/p2p"
	"github.com/peertape/peertape/extract/rpc"
	"github.com/peertape/peertape/proto/pb"
)

// extractRecordSources lets `peertape record` run the RPC, P2P and log
// extractors in-process (the all-in-one set-up): their events go straight
// into the segments, with no NATS in between. The flags are exactly those
// of `peertape extract rpc|p2p|log` (the same bindings); none collides with
// a record flag. An extractor runs when one of its "where" flags is given:
//
//	RPC: --rpc-host, --rpc-user, --rpc-password, --rpc-cookie-file, --rpc-tls, --rpc-tls-cert
//	P2P: --p2p-address
//	log: --log-file, --log-fifo (--bitcoind-pipe), --log-stdin
//
// Its tuning flags without one of those are a usage error, so that a
// forgotten --p2p-address does not silently record no P2P events.
type extractRecordSources struct {
	fs  *pflag.FlagSet
	rpc *rpcFlags
	p2p *p2pFlags
	log *logFlags
}

func init() { registerRecordSource(&extractRecordSources{}) }

// AddFlags adds the extractors' flags (those of the extract commands,
// without the NATS ones).
func (p *extractRecordSources) AddFlags(fs *pflag.FlagSet) {
	p.fs = fs
	p.rpc = bindRPCFlags(fs)
	p.p2p = bindP2PFlags(fs)
	p.log = bindLogFlags(fs)
}

var (
	rpcEnableFlags = []string{"rpc-host", "rpc-user", "rpc-password", "rpc-cookie-file", "rpc-tls", "rpc-tls-cert"}
	p2pEnableFlags = []string{"p2p-address"}
	logEnableFlags = []string{"log-file", "log-fifo", "bitcoind-pipe", "log-stdin"}
)

// rpcTuningFlags are the RPC flags that only tune an enabled extractor.
func rpcTuningFlags() []string {
	names := []string{"query-interval", "query-interval-less-frequent", "rpc-timeout"}
	for _, r := range rpc.RPCs() {
		names = append(names, "disable-"+r.Name)
	}
	return names
}

var (
	p2pTuningFlags = []string{"p2p-network", "ping-interval", "disable-ping", "disable-addrv2", "disable-invs",
		"disable-feefilter", "p2p-user-agent", "p2p-max-connections"}
	logTuningFlags = []string{"from-start", "log-poll-interval", "log-max-line", "log-event-time"}
)

// changed returns the names among names given on the command line.
func (p *extractRecordSources) changed(names []string) []string {
	var out []string
	for _, n := range names {
		if p.fs.Changed(n) {
			out = append(out, "--"+n)
		}
	}
	return out
}

// enabled says whether an extractor was asked for, and refuses its tuning
// flags without it.
func (p *extractRecordSources) enabled(what string, enable, tuning []string) (bool, error) {
	on := len(p.changed(enable)) > 0
	if t := p.changed(tuning); !on && len(t) > 0 {
		return false, usagef("%s: the %s extractor runs only with %s", strings.Join(t, ", "), what, "--"+strings.Join(enable, " or --"))
	}
	return on, nil
}

// Sources builds the requested extractors. All of them share one node-info
// merger, so the segment metadata does not flip between the RPC's and the
// P2P handshake's way of writing the same version.
func (p *extractRecordSources) Sources(_ context.Context, env recordEnv) ([]recordSource, error) {
	rpcOn, err := p.enabled("RPC", rpcEnableFlags, rpcTuningFlags())
	if err != nil {
		return nil, err
	}
	p2pOn, err := p.enabled("P2P", p2pEnableFlags, p2pTuningFlags)
	if err != nil {
		return nil, err
	}
	logOn, err := p.enabled("log", logEnableFlags, logTuningFlags)
	if err != nil {
		return nil, err
	}
	merger := &nodeInfoMerger{}
	var out []recordSource
	if rpcOn {
		o, err := p.rpc.options()
		if err != nil {
			return nil, err
		}
		o.Node, o.Registerer, o.Logger = env.Node, env.Registerer, env.Logger
		x, err := rpc.New(o)
		if err != nil {
			return nil, usageError{err}
		}
		out = append(out, recordSource{Source: merger.wrap(x), Description: "rpc " + o.Host})
	}
	if p2pOn {
		o, err := p.p2p.options()
		if err != nil {
			return nil, err
		}
		o.Node, o.Registerer, o.Logger = env.Node, env.Registerer, env.Logger
		x, err := p2p.New(o)
		if err != nil {
			return nil, usageError{err}
		}
		// Bind now: a taken port is reported before recording starts.
		if err := x.Listen(); err != nil {
			return nil, err
		}
		out = append(out, recordSource{Source: merger.wrap(x), Description: fmt.Sprintf("p2p %s %s", x.Addr(), o.Network)})
	}
	if logOn {
		o, err := p.log.options()
		if err != nil {
			return nil, err
		}
		o.Node, o.Registerer, o.Logger = env.Node, env.Registerer, env.Logger
		x, err := logextract.New(o)
		if err != nil {
			return nil, usageError{err}
		}
		desc := "log "
		switch {
		case o.File != "":
			desc += o.File
		case o.FIFO != "":
			desc += "fifo " + o.FIFO
		default:
			desc += "stdin"
		}
		out = append(out, recordSource{Source: merger.wrap(x), Description: desc})
	}
	return out, nil
}

// nodeInfoMerger combines what several sources learn about one node. The
// RPC extractor knows btcd only by its version number ("0.26.2") while the
// P2P handshake gives its whole user agent ("/btcwire:0.5.0/btcd:0.26.2/");
// taken in turn, the segment metadata would change with every reconnection.
// The merger keeps the user agent when a later report says the same
// version in fewer words, and passes on every real change (an upgrade, a
// different implementation, a network).
type nodeInfoMerger struct {
	mu  sync.Mutex
	cur event.NodeInfo
}

// merge folds in and returns the combined info and whether it changed.
func (m *nodeInfoMerger) merge(in event.NodeInfo) (event.NodeInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.cur
	if in.Implementation != "" {
		next.Implementation = in.Implementation
	}
	if in.Network != "" {
		next.Network = in.Network
	}
	if in.Version != "" && !sameVersionShorter(m.cur, in) {
		next.Version = in.Version
	}
	if next == m.cur {
		return next, false
	}
	m.cur = next
	return next, true
}

// sameVersionShorter reports whether in names the version cur's user
// agent already carries, of the same implementation.
func sameVersionShorter(cur, in event.NodeInfo) bool {
	if !strings.HasPrefix(cur.Version, "/") || strings.HasPrefix(in.Version, "/") {
		return false
	}
	if in.Implementation != "" && in.Implementation != cur.Implementation {
		return false
	}
	for _, comp := range strings.Split(cur.Version, "/") {
		if _, v, ok := strings.Cut(comp, ":"); ok {
			if i := strings.IndexByte(v, '('); i >= 0 {
				v = v[:i]
			}
			if v == in.Version {
				return true
			}
		}
	}
	return false
}

// wrap makes src report node info through the merger.
func (m *nodeInfoMerger) wrap(src event.Source) event.Source { return mergedSource{src: src, m: m} }

type mergedSource struct {
	src event.Source
	m   *nodeInfoMerger
}

func (s mergedSource) Run(ctx context.Context, sink event.Sink) error {
	return s.src.Run(ctx, &mergedSink{Sink: sink, m: s.m})
}

// mergedSink passes events and gaps through unchanged and node info
// through the merger.
type mergedSink struct {
	event.Sink
	m *nodeInfoMerger
}

func (s *mergedSink) Gap(g *pb.Gap) {
	if gs, ok := s.Sink.(event.GapSink); ok {
		gs.Gap(g)
	}
}

func (s *mergedSink) NodeInfo(info event.NodeInfo) {
	ns, ok := s.Sink.(event.NodeInfoSink)
	if !ok {
		return
	}
	if out, changed := s.m.merge(info); changed {
		ns.NodeInfo(out)
	}
}

// nodeInfoFromEvents wraps a source whose events arrive without node facts
// (the NATS subscriber: peer-observer's extractors publish events only) so
// that the node's implementation, version and network still reach the
// segment metadata: from getnetworkinfo's subversion and getblockchaininfo's
// chain in the rpc events it delivers. Other events pass untouched; only
// those two RPC results (every 10 s and 120 s in peer-observer) are decoded.
func nodeInfoFromEvents(src event.Source) event.Source {
	return sniffingSource{src: src, m: &nodeInfoMerger{}}
}

type sniffingSource struct {
	src event.Source
	m   *nodeInfoMerger
}

func (s sniffingSource) Run(ctx context.Context, sink event.Sink) error {
	return s.src.Run(ctx, &sniffingSink{mergedSink{Sink: sink, m: s.m}})
}

type sniffingSink struct{ mergedSink }

func (s *sniffingSink) Consume(ev event.Event) error {
	if ev.Kind == event.RPC && (ev.Type == "network_info" || ev.Type == "blockchain_info") {
		if e, err := ev.Decode(); err == nil {
			r := e.GetRpcExtractor()
			var info event.NodeInfo
			if sub := r.GetNetworkInfo().GetSubversion(); sub != "" {
				info.Implementation, info.Version = event.ImplementationFromUserAgent(sub), sub
			}
			if chain := r.GetBlockchainInfo().GetChain(); chain != "" {
				info.Network = event.NetworkName(chain)
			}
			if info != (event.NodeInfo{}) {
				s.NodeInfo(info)
			}
		}
	}
	return s.Sink.Consume(ev)
}
