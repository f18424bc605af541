package synth

import (
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// Core pings every peer every two minutes and so do Core peers.
const pingInterval = 120_000

// procDelayUs is how long the node takes to get to a request that arrives
// now (a ping, a getdata): normally a fraction of a millisecond, now and
// then tens of milliseconds, plus any injected backlog.
func (s *sim) procDelayUs() int64 {
	d := int64(s.rPing.lognormal(180, 0.9))
	if s.rPing.chance(0.02) {
		d += int64(s.rPing.exp(25_000))
	}
	return d + s.anoms.backlogUs(s.now)
}

// respondAfter runs fn once the node got to a request that arrived now.
func (s *sim) respondAfter(fn func()) { s.after(s.procDelayUs()/1000, fn) }

// startPings starts both ping directions for p. Connections that predate
// the stream start at a random phase.
func (s *sim) startPings(p *peer, live bool) {
	r := s.rPing
	first := int64(0)
	if !live {
		first = int64(r.intn(pingInterval))
	}
	var ours func()
	ours = func() {
		if p.closed {
			return
		}
		nonce := r.u64() | 1
		p.pingNonce, p.pingStart = nonce, s.now
		s.ping(p, false, nonce)
		answers := p.kind != pkChurn && !(p.kind == pkSpy && p.id%5 == 0)
		if answers {
			start := s.now
			s.after(p.rtt+int64(r.intn(3)), func() {
				if p.closed || p.pingNonce != nonce {
					return
				}
				s.pong(p, true, nonce)
				// The pong is timed when the node processes it.
				took := float64(s.now-start)/1000 + float64(s.procDelayUs())/1e6
				p.pingTime = took
				if p.minPing == 0 || took < p.minPing {
					p.minPing = took
				}
				p.pingStart = 0
			})
		}
		s.after(pingInterval+int64(r.intn(200)), ours)
	}
	s.after(first, ours)
	if p.kind == pkExtractor {
		return // its pings are the p2p-extractor's, every 10 s
	}
	pings := p.kind == pkNode || p.kind == pkBlocksOnly || p.kind == pkLight || (p.kind == pkSpy && p.id%3 != 0)
	if !pings {
		return
	}
	var theirs func()
	theirs = func() {
		if p.closed {
			return
		}
		nonce := r.u64() | 1
		if p.kind == pkSpy {
			// Some spy implementations use small or fixed nonces.
			switch p.id % 4 {
			case 0:
				nonce = uint64(r.intn(256))
			case 1:
				nonce = uint64(r.u32())
			}
		}
		if p.kind == pkSpy && p.id%17 == 0 {
			s.msg(p, cmdPing, true, 0, &pb.MessageEvent{Msg: &pb.MessageEvent_Oldping{Oldping: true}})
		} else {
			s.ping(p, true, nonce)
			s.respondAfter(func() {
				if !p.closed {
					s.pong(p, false, nonce)
				}
			})
		}
		s.after(pingInterval+int64(r.intn(2000)), theirs)
	}
	s.after(int64(r.intn(pingInterval))+p.rtt, theirs)
}

// startP2PExtractor runs peer-observer's p2p-extractor side: a ping every
// 10 s whose nonce is its send time in ns, answered by the node after its
// processing delay, measured as PingDuration.
func (s *sim) startP2PExtractor() {
	r := s.rPing
	ext := s.net.ext
	var tick func()
	tick = func() {
		if ext.closed {
			return
		}
		sub := int64(r.intn(1_000_000))
		sentNs := s.now*1_000_000 + sub
		s.ping(ext, true, uint64(sentNs))
		d := s.procDelayUs() // µs until the node answers
		wire := int64(60 + r.intn(120))
		pongNs := sentNs + d*1000 + wire*1000
		s.at(pongNs/1_000_000, func() {
			s.pong(ext, false, uint64(sentNs))
			back := int64(r.intn(90)) * 1000
			done := pongNs + back
			s.at(done/1_000_000, func() {
				s.emit(p2pEvent(&pb.P2P{P2PEvent: &pb.P2P_PingDuration{PingDuration: &pb.PingDuration{
					Duration: proto.Uint64(uint64(done - sentNs))}}}))
			})
		})
		s.after(10_000, tick)
	}
	s.at(s.start+int64(r.intn(10_000)), tick)
}
