package synth

import (
	"fmt"
	"math"

	"github.com/peertape/peertape/proto/pb"
)

// Address relay: peers gossip a few fresh addresses now and then, the
// node forwards each to two peers on their 30 s addr timers, answers
// getaddr from its cached response, and outbound peers answer ours with
// up to 1,000 entries.

const (
	addrGossipRate = 0.45   // addr messages/s arriving from peers
	addrInterval   = 30_000 // AVG_ADDRESS_BROADCAST_INTERVAL, ms
)

// addrMsg emits a legacy addr message with the v1-compatible entries,
// each with its addrman timestamp.
func (s *sim) addrMsg(p *peer, inbound bool, list []*netAddr) {
	var out []*pb.Address
	for _, a := range list {
		if a.v1() {
			out = append(out, a.pbAddress(a.time))
		}
	}
	if len(out) == 0 {
		return
	}
	s.msg(p, cmdAddr, inbound, varintLen(uint64(len(out)))+addrV1EntrySize*len(out),
		&pb.MessageEvent{Msg: &pb.MessageEvent_Addr{Addr: &pb.Addr{Addresses: out}}})
}

// addrv2Msg emits a BIP155 addrv2 message; the p2p-extractor reports
// those it receives as AddressAnnouncement.
func (s *sim) addrv2Msg(p *peer, inbound bool, list []*netAddr) {
	out := make([]*pb.Address, len(list))
	size := varintLen(uint64(len(list)))
	for i, a := range list {
		out[i] = a.pbAddress(a.time)
		size += a.addrv2EntrySize()
	}
	s.msg(p, cmdAddrv2, inbound, size, &pb.MessageEvent{Msg: &pb.MessageEvent_Addrv2{Addrv2: &pb.AddrV2{Addresses: out}}})
	if p.kind == pkExtractor && !inbound {
		again := make([]*pb.Address, len(list))
		for i, a := range list {
			again[i] = a.pbAddress(a.time)
		}
		s.emit(p2pEvent(&pb.P2P{P2PEvent: &pb.P2P_AddressAnnouncement{AddressAnnouncement: &pb.AddressAnnouncement{Addresses: again}}}))
	}
}

// addrTo sends list in the form p understands.
func (s *sim) addrTo(p *peer, inbound bool, list []*netAddr) {
	if p.addrv2 {
		s.addrv2Msg(p, inbound, list)
	} else {
		s.addrMsg(p, inbound, list)
	}
}

// startAddrGossip runs the addresses peers gossip to us.
func (s *sim) startAddrGossip() {
	var tick func()
	tick = func() {
		s.gossipIn()
		s.after(s.rAddr.expMs(1000/addrGossipRate), tick)
	}
	s.after(s.rAddr.expMs(1000/addrGossipRate), tick)
}

func (s *sim) addrPeers(except *peer) []*peer {
	var out []*peer
	for _, p := range s.net.peers {
		if p != except && p.addrOK && p.handshake && !p.closed && (p.kind == pkNode || p.kind == pkExtractor || p.kind == pkSpy) {
			out = append(out, p)
		}
	}
	return out
}

// gossipIn: a peer relays one to a few addresses, mostly ones we know,
// with fresh timestamps.
func (s *sim) gossipIn() {
	r := s.rAddr
	var from []*peer
	for _, p := range s.addrPeers(nil) {
		if p.kind == pkNode {
			from = append(from, p)
		}
	}
	if len(from) == 0 {
		return
	}
	p := from[r.intn(len(from))]
	n := 1
	switch x := r.float(); {
	case x < 0.10:
		n = 2
	case x < 0.15:
		n = r.between(3, 10)
	}
	list := make([]*netAddr, n)
	fresh := 0
	for i := range list {
		var a *netAddr
		if r.chance(0.7) {
			a = s.addrs.random(r)
		} else {
			a = randomAddr(r, randomNet(r))
			s.addrs.learn(a, p.a)
			fresh++
		}
		if !p.addrv2 {
			for !a.v1() {
				a = s.addrs.random(r)
			}
		}
		a.time = uint32(s.now/1000) - uint32(r.exp(300))
		list[i] = a
	}
	s.addrTo(p, true, list)
	p.addrProc += uint64(n)
	s.logNet(fmt.Sprintf("Received addr: %d addresses (%d processed, 0 rate-limited) from peer=%d", n, n, p.id))
	if fresh > 0 {
		s.log(pb.LogDebugCategory_ADDRMAN, fmt.Sprintf("Added %d addresses (of %d) from %s: 0 tried, %d new",
			fresh, n, p.a.coreHost(), len(s.addrs.entries)-int(addrmanTried)))
	}
	if n > 10 {
		return
	}
	// Forward each address to two peers, chosen by a hash of the address
	// like Core (so repeats go the same way).
	targets := s.addrPeers(p)
	if len(targets) == 0 {
		return
	}
	for _, a := range list {
		h := mix64(uint64(a.ip[3])<<32 ^ uint64(a.key[7]) ^ uint64(a.ip[2])<<16 ^ uint64(s.now/86_400_000))
		for k := range 2 {
			q := targets[int((h>>(20*k))%uint64(len(targets)))]
			if q.kind == pkExtractor || r.chance(0.5) {
				s.queueAddr(q, a)
			}
		}
	}
}

// queueAddr adds a to what we relay to p on its next addr timer.
func (s *sim) queueAddr(p *peer, a *netAddr) {
	if len(p.addrQ) >= 1000 {
		return
	}
	p.addrQ = append(p.addrQ, a)
	if p.addrTimer {
		return
	}
	p.addrTimer = true
	s.after(s.rAddr.expMs(addrInterval), func() {
		p.addrTimer = false
		if p.closed || len(p.addrQ) == 0 {
			p.addrQ = nil
			return
		}
		list := p.addrQ
		p.addrQ = nil
		if list[0] == s.addrs.local {
			// Our self-announcement carries the current time.
			s.addrs.local.time = uint32(s.now / 1000)
		}
		s.addrTo(p, false, list)
	})
}

// answerGetaddr replies to a getaddr with the cached response (Core
// answers once per connection and serves the same addresses for a day).
func (s *sim) answerGetaddr(p *peer) {
	if s.now-s.addrs.cacheAt > 24*3600e3 {
		s.addrs.refreshCache()
	}
	s.respondAfter(func() {
		if p.closed {
			return
		}
		if p.addrv2 {
			s.addrv2Msg(p, false, s.addrs.cache)
		} else {
			s.addrMsg(p, false, s.addrs.cacheV1)
		}
	})
}

// getaddrResponse is an outbound peer's answer to our getaddr: up to
// 1,000 addresses from its own addrman, many new to us.
func (s *sim) getaddrResponse(p *peer) {
	r := s.rAddr
	n := r.between(600, 1000)
	list := make([]*netAddr, n)
	learned := 0
	for i := range list {
		if r.chance(0.55) {
			list[i] = s.addrs.random(r)
		} else {
			a := randomAddr(r, randomNet(r))
			a.time = uint32(s.now/1000) - uint32(r.exp(2*86400))
			list[i] = a
			if learned < 60 {
				s.addrs.learn(a, p.a)
				learned++
			}
		}
	}
	s.addrTo(p, true, list)
	p.addrProc += uint64(n)
	s.logNet(fmt.Sprintf("Received addr: %d addresses (%d processed, 0 rate-limited) from peer=%d", n, n, p.id))
	s.log(pb.LogDebugCategory_ADDRMAN, fmt.Sprintf("Added %d addresses (of %d) from %s: 0 tried, %d new", learned, n, p.a.coreHost(), learned))
}

// Fee filters. Core rounds its minimum fee onto buckets spaced by 1.1 from
// half the incremental fee and picks the bucket below two times in three.

var feeBuckets = func() []float64 {
	b := []float64{0}
	for x := 500.0; x <= 1e7; x *= 1.1 {
		b = append(b, x)
	}
	return b
}()

func roundFeefilter(r *rng, satPerKvB float64) int64 {
	i := 0
	for i < len(feeBuckets) && feeBuckets[i] < satPerKvB {
		i++
	}
	if i == len(feeBuckets) || (i > 0 && r.intn(3) != 0) {
		i--
	}
	return int64(feeBuckets[i])
}

// ourFeefilter is what the node would send now.
func (s *sim) ourFeefilter() int64 {
	return roundFeefilter(s.rRelay, math.Max(s.pool.mempoolMinFee(), minRelay)*1000)
}

// startFeefilter re-sends our feefilter to p when the rounded value
// changed, checked every 10 minutes on average as Core does; Core peers do
// the same towards us.
func (s *sim) startFeefilter(p *peer) {
	if !p.relay {
		return
	}
	var ours func()
	ours = func() {
		if p.closed {
			return
		}
		if v := s.ourFeefilter(); v != p.ourFilter {
			p.ourFilter = v
			s.feefilterMsg(p, false, v)
			if p.kind == pkExtractor {
				s.emit(p2pEvent(&pb.P2P{P2PEvent: &pb.P2P_FeefilterAnnouncement{FeefilterAnnouncement: v}}))
			}
		}
		s.after(s.rRelay.expMs(600e3), ours)
	}
	s.after(s.rRelay.expMs(600e3), ours)
	if p.kind != pkNode {
		return
	}
	var theirs func()
	theirs = func() {
		if p.closed {
			return
		}
		if p.baseFee > 0 {
			if v := roundFeefilter(s.rRelay, p.baseFee); v != p.feefilter {
				p.feefilter = v
				s.feefilterMsg(p, true, v)
			}
		}
		s.after(s.rRelay.expMs(600e3), theirs)
	}
	s.after(s.rRelay.expMs(600e3), theirs)
}
