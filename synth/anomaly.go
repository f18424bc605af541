package synth

import (
	"fmt"
	"math"
)

// Injected describes one anomaly as it was injected: its window in event
// time and the peers (ids) involved, so tests and fixture documentation
// can say what an analyzer should find.
type Injected struct {
	Anomaly Anomaly
	StartMs int64
	EndMs   int64
	Peers   []uint64
	// Subnet is the /24 an inbound flood comes from.
	Subnet string
	// Count is how many occurrences were injected: connections,
	// misbehaving events, mutated blocks, orphans or rejections.
	Count int
}

// Peak ping backlog and the rates of the other anomalies.
const (
	backlogPeakUs    = 8_000_000
	floodMinRate     = 40.0 // inbound connections/s at least
	floodChurnFactor = 15.0 // and at least this times the baseline churn
	misbehavingRate  = 1.5  // misbehaving peers/s
	mutatedEvery     = 20_000
	orphanFloodRate  = 5.0  // orphans/s
	rejectSpikeRate  = 25.0 // rejections/s at activity ≤ 1
	maxInjectedPeers = 5000 // peers listed per injection
)

type anomalies struct {
	s    *sim
	list []*Injected
}

func newAnomalies(s *sim) *anomalies {
	a := &anomalies{s: s}
	for _, an := range s.o.Anomalies {
		start := s.start + an.Offset.Milliseconds()
		a.list = append(a.list, &Injected{Anomaly: an, StartMs: start, EndMs: start + an.Duration.Milliseconds()})
	}
	return a
}

func (a *anomalies) init() {
	s := a.s
	for _, in := range a.list {
		s.inAnom = true
		switch in.Anomaly.Kind {
		case PingBacklog:
			// Nothing to schedule: procDelayUs reads backlogUs.
		case InboundFlood:
			s.at(in.StartMs, func() { a.flood(in) })
		case Misbehaving:
			s.at(in.StartMs, func() { a.misbehaving(in) })
		case MutatedBlock:
			s.at(in.StartMs, func() { a.mutated(in) })
		case OrphanFlood:
			s.at(in.StartMs, func() { a.orphanFlood(in) })
		case RejectSpike:
			s.at(in.StartMs, func() { a.rejectSpike(in) })
		}
		s.inAnom = false
	}
}

func (in *Injected) addPeer(id uint64) {
	if len(in.Peers) < maxInjectedPeers {
		in.Peers = append(in.Peers, id)
	}
}

// backlogUs is the extra processing delay of the ping-backlog anomalies
// at time t: it ramps up over the first 40% of the window to 8 s, holds,
// and ramps down over the last 20%.
func (a *anomalies) backlogUs(t int64) int64 {
	var d int64
	for _, in := range a.list {
		if in.Anomaly.Kind != PingBacklog || t < in.StartMs || t >= in.EndMs {
			continue
		}
		f := float64(t-in.StartMs) / float64(in.EndMs-in.StartMs)
		var shape float64
		switch {
		case f < 0.4:
			shape = f / 0.4
		case f < 0.8:
			shape = 1
		default:
			shape = (1 - f) / 0.2
		}
		d += int64(shape * backlogPeakUs)
	}
	return d
}

// every runs fn at Poisson times with the given rate (per second) until
// the injection's window ends.
func (a *anomalies) every(in *Injected, rate float64, fn func()) {
	s := a.s
	var tick func()
	tick = func() {
		if s.now >= in.EndMs {
			return
		}
		fn()
		s.after(s.rAnom.expMs(1000/rate), tick)
	}
	tick()
}

// flood: a burst of inbound connections from one /24. About 60% get as
// far as version and verack; each lasts a second or two; every one of
// them forces an eviction once the inbound slots are full.
func (a *anomalies) flood(in *Injected) {
	s := a.s
	r := s.rAnom
	net := [3]byte{v4FirstOctets[r.intn(len(v4FirstOctets))], byte(r.between(1, 254)), byte(r.between(0, 254))}
	in.Subnet = fmt.Sprintf("%d.%d.%d.0/24", net[0], net[1], net[2])
	rate := math.Max(floodMinRate, floodChurnFactor*churnRate*s.activity)
	agent := []string{"/Satoshi:27.0.0/", "/Satoshi:26.1.0/", "/Satoshi:25.0.0/"}[r.intn(3)]
	a.every(in, rate, func() {
		addr := &netAddr{net: netIPv4, port: 8333, asn: asns[r.intn(len(asns))]}
		addr.ip[0], addr.ip[1], addr.ip[2], addr.ip[3] = net[0], net[1], net[2], byte(r.between(2, 254))
		p := s.net.newPeer(pkAttacker, ctInbound, addr)
		p.ua, p.version = agent, 70016
		p.wtxid, p.addrv2 = true, true
		p.rtt = int64(r.between(20, 60))
		in.addPeer(p.id)
		in.Count++
		s.net.acceptInbound(p)
		if r.chance(0.6) {
			s.net.inboundHandshake(p, r)
		}
		s.after(int64(r.lognormal(1500, 0.7)), func() { s.net.disconnect(p) })
	})
}

// misbehaving: attacker connections that complete the handshake and then
// send invalid headers or out-of-bounds getblocktxn, 1.5 a second; each
// is punished and disconnected.
func (a *anomalies) misbehaving(in *Injected) {
	s := a.s
	r := s.rAnom
	var pool []*netAddr
	for range 8 {
		pool = append(pool, randomAddr(r, netIPv4))
	}
	n := 0
	a.every(in, misbehavingRate, func() {
		p := s.net.newPeer(pkAttacker, ctInbound, pool[r.intn(len(pool))])
		p.rtt = int64(r.between(30, 200))
		in.addPeer(p.id)
		s.net.acceptInbound(p)
		s.net.inboundHandshake(p, r)
		reason := misbehaviourReasons[n%len(misbehaviourReasons)]
		n++
		s.after(p.rtt*2+int64(r.between(50, 400)), func() {
			if !p.closed {
				in.Count++
				s.net.misbehave(p, reason, r)
			}
		})
	})
}

// mutated: one inbound peer sends a mutated copy of the tip block every
// 20 s: the tip's header with the coinbase and a transaction or two, so
// the merkle root does not match (bad-txnmrklroot), or with a witness
// reserved value of the wrong size (bad-witness-nonce-size). Core logs
// BlockChecked with that state.
func (a *anomalies) mutated(in *Injected) {
	s := a.s
	r := s.rAnom
	var from *peer
	for _, p := range s.net.peers {
		if p.kind == pkNode && p.inbound() && p.handshake && !p.closed {
			from = p
			if r.chance(0.3) {
				break
			}
		}
	}
	if from == nil {
		return
	}
	in.addPeer(from.id)
	n := 0
	var tick func()
	tick = func() {
		if s.now >= in.EndMs || from.closed {
			return
		}
		c := s.chain
		h := c.tip
		hash := c.hash(h)
		b := &blockRec{height: h, hash: hash, mutated: true}
		hdr := c.header(h)
		copy(b.prev[:], hdr.PrevBlockhash)
		copy(b.merkle[:], hdr.MerkleRoot)
		b.version, b.time, b.nonce = hdr.GetVersion(), hdr.GetTime(), hdr.GetNonce()
		state, debug := "bad-txnmrklroot", "hashMerkleRoot mismatch"
		nonce := 32
		if n%2 == 1 {
			state, debug, nonce = "bad-witness-nonce-size", "CheckWitnessMalleation : invalid witness reserved value size", 33
		}
		b.coinbase = c.coinbaseNonce(h, 0, nonce)
		b.txs = []*tx{b.coinbase}
		for range 1 + r.intn(2) {
			b.txs = append(b.txs, s.pool.build(tmplMix.pick(r), nil))
		}
		s.blockMsg(from, true, b)
		s.logNet(fmt.Sprintf("received block %s peer=%d", hexRev(hash), from.id))
		s.blockChecked(hexRev(hash), state, debug)
		n++
		in.Count++
		s.after(mutatedEvery, tick)
	}
	tick()
}

// orphanFlood: orphans arrive five a second, each announced by 5 to 15
// peers; the parents are asked for and never come (notfound). The
// orphanage fills to its limit of 100 and starts evicting.
func (a *anomalies) orphanFlood(in *Injected) {
	s := a.s
	r := s.rAnom
	seen := map[uint64]bool{}
	a.every(in, orphanFloodRate, func() {
		var relay []*peer
		for _, p := range s.net.peers {
			if p.kind == pkNode && p.slot >= 0 && p.handshake && !p.closed {
				relay = append(relay, p)
			}
		}
		if len(relay) == 0 {
			return
		}
		parent := s.pool.build(tmplP2WPKH, nil)
		parent.lost = true
		child := s.pool.build(tmplMix.pick(r), []outpoint{{h: parent.txid, vout: uint32(r.intn(2))}})
		child.fate, child.parent, child.t0 = fateOrphan, parent, s.now
		k := min(len(relay), r.between(5, 15))
		perm := r.r.Perm(len(relay))[:k]
		in.Count++
		for i, j := range perm {
			p := relay[j]
			if !seen[p.id] {
				seen[p.id] = true
				in.addPeer(p.id)
			}
			if i == 0 {
				s.announceTo(p, []*tx{child})
				continue
			}
			s.after(int64(r.between(2500, 8000)), func() {
				if !p.closed && child.state == txOrphan {
					s.announceTo(p, []*tx{child})
				}
			})
		}
	})
}

// Reasons of the reject spike: transactions below the relay floor, dust
// and non-standard scripts, as from a misconfigured or hostile wallet
// service.
var spikeReasons = newChoices(choice{"min relay fee not met", 40}, choice{"dust", 20}, choice{"scriptpubkey", 20},
	choice{"non-mandatory-script-verify-flag (Signature must be zero for failed CHECK(MULTI)SIG operation)", 20})

// rejectSpike: three peers send transactions the node rejects, 25 a
// second (more at higher activity).
func (a *anomalies) rejectSpike(in *Injected) {
	s := a.s
	r := s.rAnom
	var from []*peer
	for _, p := range s.net.peers {
		if p.kind == pkNode && p.slot >= 0 && p.handshake && !p.closed && len(from) < 3 && r.chance(0.2) {
			from = append(from, p)
			in.addPeer(p.id)
		}
	}
	if len(from) == 0 {
		return
	}
	rate := rejectSpikeRate * math.Max(1, s.activity)
	a.every(in, rate/2, func() {
		p := from[r.intn(len(from))]
		if p.closed {
			return
		}
		var list []*tx
		for range 1 + r.intn(3) {
			t := s.pool.build(tmplMix.pick(r), nil)
			t.fate, t.reason, t.t0 = fateReject, spikeReasons.pick(r), s.now
			if t.reason == "min relay fee not met" {
				t.fee = int64(float64(t.vsize) * 0.1 * float64(1+r.intn(5)))
			}
			list = append(list, t)
			in.Count++
		}
		s.announceTo(p, list)
	})
}
