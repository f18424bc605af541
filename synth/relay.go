package synth

import (
	"math"
	"slices"
	"strconv"

	"github.com/peertape/peertape/proto/pb"
)

// Transaction relay follows Core: peers announce what they learn at their
// Poisson "trickle" times (every 2 s on average towards an outbound peer,
// 5 s towards an inbound one), the node requests each new transaction once
// (at once from outbound peers, after 2 s from inbound ones), and announces
// accepted transactions to every peer that has not announced them, up to
// 35 per inv, highest feerate first. Inbound peers share one trickle timer.

// A peer of ours hears of a new transaction (an inv from one of its
// peers) after a delay (ms) of mean heardFast, or heardSlow for one peer
// in ten (slow links, Tor), and has it downloaded and accepted a while
// later (mean fetchMean more).
const (
	heardFast = 800.0
	heardSlow = 2500.0
	fetchMin  = 400
	fetchMean = 1500.0
)

func (s *sim) relayHash(t *tx, p *peer) uint64 {
	return mix64(t.seq*0x9e3779b97f4a7c15 ^ p.id*0xd1b54a32d192ed03 ^ s.o.Seed*0x94d049bb133111eb)
}

// heardAt is when p first hears of t: a pure function of the transaction,
// the peer and the seed, so nothing has to be stored. A peer asks us for
// t only if our inv comes before that.
func (s *sim) heardAt(t *tx, p *peer) int64 {
	h := s.relayHash(t, p)
	mean := heardFast
	if h&0xff < 26 {
		mean = heardSlow
	}
	return t.t0 + 50 + int64(-math.Log(unit(h))*mean) + p.rtt/2
}

// knowAt is when p has t in its mempool and may announce it to us.
func (s *sim) knowAt(t *tx, p *peer) int64 {
	h := mix64(s.relayHash(t, p) + 1)
	return s.heardAt(t, p) + fetchMin + int64(-math.Log(unit(h))*fetchMean) + p.rtt
}

func wtxItem(t *tx) *pb.InventoryItem {
	return &pb.InventoryItem{Item: &pb.InventoryItem_Wtx{Wtx: t.wtxid[:]}}
}
func txItem(t *tx) *pb.InventoryItem {
	return &pb.InventoryItem{Item: &pb.InventoryItem_Transaction{Transaction: t.txid[:]}}
}
func witnessTxItem(t *tx) *pb.InventoryItem {
	return &pb.InventoryItem{Item: &pb.InventoryItem_WitnessTransaction{WitnessTransaction: t.txid[:]}}
}

// announceItems are the inv entries p uses for txs: wtxids with wtxid
// relay (BIP339), txids otherwise.
func announceItems(p *peer, list []*tx) []*pb.InventoryItem {
	items := make([]*pb.InventoryItem, len(list))
	for i, t := range list {
		if p.wtxid {
			items[i] = wtxItem(t)
		} else {
			items[i] = txItem(t)
		}
	}
	return items
}

func (s *sim) inv(p *peer, inbound bool, items []*pb.InventoryItem) {
	s.msg(p, cmdInv, inbound, invSize(len(items)), &pb.MessageEvent{Msg: &pb.MessageEvent_Inv{Inv: &pb.Inv{Items: items}}})
}

func (s *sim) getdata(p *peer, inbound bool, items []*pb.InventoryItem) {
	s.msg(p, cmdGetdata, inbound, invSize(len(items)), &pb.MessageEvent{Msg: &pb.MessageEvent_Getdata{Getdata: &pb.GetData{Items: items}}})
}

func (s *sim) notfound(p *peer, inbound bool, items []*pb.InventoryItem) {
	s.msg(p, cmdNotfound, inbound, invSize(len(items)), &pb.MessageEvent{Msg: &pb.MessageEvent_Notfound{Notfound: &pb.NotFound{Items: items}}})
}

func (s *sim) txMsg(p *peer, inbound bool, t *tx) {
	s.msg(p, cmdTx, inbound, len(t.raw), &pb.MessageEvent{Msg: &pb.MessageEvent_Tx{Tx: &pb.Tx{Tx: &pb.Transaction{
		Txid: t.txid[:], Wtxid: t.wtxid[:], Raw: t.raw}}}})
}

// startTrickleIn runs p's announcements to us.
func (s *sim) startTrickleIn(p *peer) {
	mean := 5000.0
	if p.inbound() {
		mean = 2000
	}
	var tick func()
	tick = func() {
		if p.closed || p.slot < 0 {
			return
		}
		s.trickleIn(p)
		s.after(s.rRelay.expMs(mean), tick)
	}
	s.after(s.rRelay.expMs(mean), tick)
}

// trickleIn sends us an inv with the transactions p learned since its
// last one and that it has not heard from us.
func (s *sim) trickleIn(p *peer) {
	m := s.pool
	m.trimRecent()
	var items []*tx
	lo := p.annScan
	for _, t := range m.recent {
		if t.t0 > s.now {
			break
		}
		if t.lost || t.private || t.knows(p.slot) {
			continue
		}
		k := s.knowAt(t, p)
		if k <= lo || k > s.now || k-t.t0 > announceMaxMs {
			continue
		}
		items = append(items, t)
	}
	p.annScan = s.now
	if len(items) == 0 {
		return
	}
	if n := invTarget(s.activity) + len(items)/1000*5; len(items) > n {
		sortByFeerate(items)
		items = items[:n]
	}
	s.announceTo(p, items)
}

func sortByFeerate(list []*tx) {
	slices.SortStableFunc(list, func(a, b *tx) int {
		fa, fb := a.feerate(), b.feerate()
		switch {
		case fa > fb:
			return -1
		case fa < fb:
			return 1
		}
		return 0
	})
}

// announceTo: p announces list to us, and we request what is new.
func (s *sim) announceTo(p *peer, list []*tx) {
	for _, t := range list {
		t.setKnown(p.slot)
	}
	s.inv(p, true, announceItems(p, list))
	// -debug=net logs every transaction inventory item received.
	kind, peerID := "wtx ", " peer="+strconv.FormatUint(p.id, 10)
	if !p.wtxid {
		kind = "tx "
	}
	for _, t := range list {
		h := t.wtxid
		if !p.wtxid {
			h = t.txid
		}
		have := "  have"
		if t.state == txUnseen || t.state == txWaiting || t.state == txRequested {
			have = "  new"
		}
		s.logNet("got inv: " + kind + hexRev(h) + have + peerID)
	}
	var now, later []*tx
	for _, t := range list {
		switch t.state {
		case txOrphan:
			t.addFrom(p.id)
		case txUnseen:
			if p.preferred() {
				t.state = txRequested
				now = append(now, t)
			} else {
				t.state = txWaiting
				later = append(later, t)
			}
		case txWaiting:
			if p.preferred() {
				t.state = txRequested
				now = append(now, t)
			}
		}
	}
	if len(now) > 0 {
		s.requestTxs(p, now, false)
	}
	if len(later) > 0 {
		s.after(2000, func() {
			var l []*tx
			for _, t := range later {
				if t.state != txWaiting {
					continue
				}
				if p.closed {
					t.state = txUnseen
					continue
				}
				t.state = txRequested
				l = append(l, t)
			}
			if len(l) > 0 {
				s.requestTxs(p, l, false)
			}
		})
	}
}

// requestTxs sends p a getdata for list (by wtxid, or by txid for orphan
// parents and peers without wtxid relay) and processes the answers one
// round trip later: tx messages, or notfound.
func (s *sim) requestTxs(p *peer, list []*tx, byTxid bool) {
	items := make([]*pb.InventoryItem, len(list))
	peerID := " peer=" + strconv.FormatUint(p.id, 10)
	for i, t := range list {
		t.state = txRequested
		if p.wtxid && !byTxid {
			items[i] = wtxItem(t)
			s.logNet("Requesting wtx " + hexRev(t.wtxid) + peerID)
		} else {
			items[i] = witnessTxItem(t)
			s.logNet("Requesting tx " + hexRev(t.txid) + peerID)
		}
	}
	s.getdata(p, false, items)
	s.after(p.rtt+int64(s.rRelay.intn(3)), func() {
		var nf []*tx
		for _, t := range list {
			if t.state != txRequested {
				continue
			}
			if p.closed {
				t.state = txUnseen
				continue
			}
			if t.lost || s.rRelay.chance(0.002) {
				nf = append(nf, t)
				continue
			}
			s.txMsg(p, true, t)
			p.lastTx = s.now
			s.pool.receive(t, p)
		}
		if len(nf) > 0 && !p.closed {
			items := make([]*pb.InventoryItem, len(nf))
			for i, t := range nf {
				t.state = txUnseen
				if p.wtxid && !byTxid {
					items[i] = wtxItem(t)
				} else {
					items[i] = witnessTxItem(t)
				}
			}
			s.notfound(p, true, items)
		}
	})
}

// startTrickleOut runs our announcements to an outbound peer.
func (s *sim) startTrickleOut(p *peer) {
	var tick func()
	tick = func() {
		if p.closed {
			return
		}
		s.flushInv(p)
		s.after(s.rRelay.expMs(2000), tick)
	}
	s.after(s.rRelay.expMs(2000), tick)
}

// startInboundTrickle runs the timer all inbound peers share.
func (s *sim) startInboundTrickle() {
	var tick func()
	tick = func() {
		for _, p := range s.net.peers {
			if p.inbound() && p.relay && p.handshake && !p.closed {
				s.flushInv(p)
			}
		}
		s.after(s.rRelay.expMs(5000), tick)
	}
	s.after(s.rRelay.expMs(5000), tick)
}

// flushInv announces p's queue, and p requests what it has not learned
// elsewhere yet.
func (s *sim) flushInv(p *peer) {
	if len(p.outQ) == 0 {
		return
	}
	var cand []*tx
	for _, t := range p.outQ {
		if t.state != txInPool || t.knows(p.slot) || t.fee*1000 < p.feefilter*int64(t.vsize) {
			continue
		}
		cand = append(cand, t)
	}
	p.outQ = p.outQ[:0]
	if len(cand) == 0 {
		return
	}
	send := cand
	if n := min(1000, invTarget(s.activity)+len(cand)/1000*5); len(cand) > n {
		sortByFeerate(cand)
		send = cand[:n]
		p.outQ = append(p.outQ, cand[n:]...)
	}
	for _, t := range send {
		t.setKnown(p.slot)
	}
	items := announceItems(p, send)
	s.inv(p, false, items)
	if p.kind == pkExtractor {
		s.emit(p2pEvent(&pb.P2P{P2PEvent: &pb.P2P_InventoryAnnouncement{InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: items}}}))
		return
	}
	if p.kind != pkNode || p.slot < 0 {
		return
	}
	var wants []*tx
	for _, t := range send {
		if s.heardAt(t, p) > s.now+p.rtt/2 {
			wants = append(wants, t)
		}
	}
	if len(wants) == 0 {
		return
	}
	s.after(p.rtt, func() {
		if p.closed {
			return
		}
		items := announceItems(p, wants)
		s.getdata(p, true, items)
		s.logGetdata(p, items)
		s.respondAfter(func() {
			if p.closed {
				return
			}
			var nf []*tx
			for _, t := range wants {
				if t.state == txInPool {
					s.txMsg(p, false, t)
				} else {
					nf = append(nf, t)
				}
			}
			if len(nf) > 0 {
				s.notfound(p, false, announceItems(p, nf))
			}
		})
	})
}

// invTarget is Core's INVENTORY_BROADCAST_TARGET (35 per inv), scaled up
// when the simulated network is busier than mainnet so queues stay
// bounded.
func invTarget(activity float64) int { return int(35 * max(1, activity)) }

// logGetdata writes the two lines -debug=net logs for a received getdata.
func (s *sim) logGetdata(p *peer, items []*pb.InventoryItem) {
	id := strconv.FormatUint(p.id, 10)
	s.logNet("received getdata (" + strconv.Itoa(len(items)) + " invsz) peer=" + id)
	if len(items) > 0 {
		s.logNet("received getdata for: " + invString(items[0]) + " peer=" + id)
	}
}

// invString is CInv::ToString.
func invString(it *pb.InventoryItem) string {
	var name string
	var h []byte
	switch x := it.Item.(type) {
	case *pb.InventoryItem_Wtx:
		name, h = "wtx", x.Wtx
	case *pb.InventoryItem_Transaction:
		name, h = "tx", x.Transaction
	case *pb.InventoryItem_WitnessTransaction:
		name, h = "witness-tx", x.WitnessTransaction
	case *pb.InventoryItem_Block:
		name, h = "block", x.Block
	case *pb.InventoryItem_WitnessBlock:
		name, h = "witness-block", x.WitnessBlock
	case *pb.InventoryItem_CompactBlock:
		name, h = "cmpctblock", x.CompactBlock
	default:
		return "ERROR"
	}
	return name + " " + hexRev([32]byte(h))
}
