package synth

import (
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

type txState uint8

const (
	txUnseen    txState = iota // the network has it, we do not
	txWaiting                  // announced by a non-preferred peer, request delayed
	txRequested                // getdata sent
	txInPool
	txRejected
	txOrphan
	txGone // mined, replaced, evicted
)

// fate is what our node will make of a transaction when it arrives.
type fate uint8

const (
	fateAccept fate = iota
	fateReject
	fateReplace
	fateOrphan
)

type outpoint struct {
	h    [32]byte
	vout uint32
}

// tx is one transaction of the simulated network.
type tx struct {
	seq         uint64
	txid, wtxid [32]byte
	raw         []byte
	vsize       int32
	weight      int32
	fee         int64
	nIn, nOut   int
	tmpl        int
	prev        []outpoint
	t0          int64 // when the network around us learned it, ms
	entry       int64 // when it entered our mempool, ms
	state       txState
	fate        fate
	reason      string
	parent      *tx
	replaces    *tx
	known       [2]uint64 // relay slots that announced it to us or got it from us
	from        []uint64  // announcing peer ids (orphans)
	poolIdx     int
	private     bool // never relayed: appears first in a block
	lost        bool // peers answer requests for it with notfound
}

func (t *tx) knows(slot int) bool {
	return slot >= 0 && t.known[slot>>6]&(1<<(slot&63)) != 0
}

func (t *tx) setKnown(slot int) {
	if slot >= 0 {
		t.known[slot>>6] |= 1 << (slot & 63)
	}
}

// feerate in sat/vB.
func (t *tx) feerate() float64 { return float64(t.fee) / float64(t.vsize) }

func (t *tx) addFrom(id uint64) {
	if !slices.Contains(t.from, id) && len(t.from) < 64 {
		t.from = append(t.from, id)
	}
}

// hexRev renders a hash in display order.
func hexRev(h [32]byte) string {
	var r [32]byte
	for i := range h {
		r[31-i] = h[i]
	}
	return hex.EncodeToString(r[:])
}

// Transaction templates, weighted like mainnet's mix.
const (
	tmplP2WPKH = iota
	tmplP2WPKH2
	tmplP2TR
	tmplP2TR1
	tmplP2PKH
	tmplP2SHWPKH
	tmplConsolidate
	tmplBatch
	tmplMultisig
	tmplInscription
	tmplRunes
	tmplCoinjoin
	tmplP2TR2
	numTmpl
)

var tmplMix = newWeighted(30, 10, 15, 5, 5, 6, 3, 4, 6, 4, 8, 1, 3)

// Rejection reasons of Core v29 for ordinary traffic, weighted.
var rejectReasons = newChoices(
	choice{"min relay fee not met", 26}, choice{"txn-mempool-conflict", 18}, choice{"insufficient fee", 14},
	choice{"bad-txns-inputs-missingorspent", 12}, choice{"too-long-mempool-chain", 6}, choice{"dust", 6},
	choice{"scriptpubkey", 6}, choice{"non-mandatory-script-verify-flag (Witness program was passed an empty witness)", 3},
	choice{"bad-txns-nonstandard-inputs", 3}, choice{"tx-size-small", 2}, choice{"replacement-adds-unconfirmed", 2},
	choice{"multi-op-return", 2},
)

// mempool is the node's mempool: the transactions seen during the run,
// individually, plus a background of older ones known only by count and
// size (so that getmempoolinfo looks like mainnet without simulating 40k
// transactions).
type mempool struct {
	s      *sim
	txs    []*tx
	recent []*tx // transactions still being announced, by t0
	seq    uint64
	b      txBuilder

	vsize, fees, usage int64
	bgCount, bgVsize   int64
	bgFee, bgUsage     int64
	minFee             float64 // rolling minimum fee, sat/vB (0 = none)
	minFeeAt           int64

	orphans []*tx
}

const (
	txRate        = 16.0 // transactions/s at activity 1
	maxOrphans    = 100  // Core v29's DEFAULT_MAX_ORPHAN_TRANSACTIONS
	orphanExpire  = 20 * 60 * 1000
	announceMaxMs = 30_000
	maxMempool    = 300_000_000
	minRelay      = 1.0 // sat/vB
)

func newMempool(s *sim) *mempool {
	m := &mempool{s: s}
	m.b.r = s.rTx
	return m
}

func (m *mempool) init() {
	s := m.s
	r := s.rTx
	m.bgCount = 38_000 + int64(r.intn(8_000))
	m.bgVsize = m.bgCount * int64(150+r.intn(40))
	m.bgFee = int64(float64(m.bgVsize) * 1.6)
	m.bgUsage = m.bgVsize * 41 / 10
	var arrive func()
	arrive = func() {
		m.arrival()
		s.after(r.expMs(1000/(txRate*s.activity)), arrive)
	}
	s.after(r.expMs(1000/(txRate*s.activity)), arrive)
	var expiry func()
	expiry = func() {
		m.expire()
		s.after(r.expMs(300e3), expiry)
	}
	s.after(r.expMs(300e3), expiry)
	var sweep func()
	sweep = func() {
		m.sweepOrphans()
		s.after(5*60*1000, sweep)
	}
	s.after(int64(r.intn(5*60*1000)), sweep)
	var pressure func()
	pressure = func() {
		m.sizeLimit()
		s.after(r.expMs(5400e3), pressure)
	}
	s.after(r.expMs(5400e3), pressure)
	var lost func()
	lost = func() {
		m.lostOrphan()
		s.after(r.expMs(120e3), lost)
	}
	s.after(r.expMs(120e3), lost)
}

// build makes a transaction of template tmpl. spend, when given, are the
// outpoints it spends (a replacement, or a child of a known parent).
func (m *mempool) build(tmpl int, spend []outpoint) *tx {
	r := m.s.rTx
	b := &m.b
	nIn, nOut := 1, 2
	switch tmpl {
	case tmplP2WPKH2, tmplP2TR2:
		nIn = 2
	case tmplP2TR1:
		nOut = 1
	case tmplConsolidate:
		nIn, nOut = r.between(3, 25), 1
	case tmplBatch:
		nOut = r.between(6, 45)
	case tmplRunes:
		nOut = 3
	case tmplCoinjoin:
		nIn, nOut = r.between(5, 12), r.between(5, 12)
	}
	if spend != nil {
		nIn = len(spend)
	}
	segwit := tmpl != tmplP2PKH
	version := uint32(2)
	if r.chance(0.12) {
		version = 1
	}
	b.begin(version, segwit, nIn)
	seq := uint32(0xfffffffd)
	switch x := r.float(); {
	case x < 0.25:
		seq = 0xffffffff
	case x < 0.35:
		seq = 0xfffffffe
	}
	prev := make([]outpoint, nIn)
	for i := range nIn {
		if spend != nil {
			prev[i] = spend[i]
		} else {
			prev[i] = outpoint{h: r.hash32(), vout: uint32(r.intn(3))}
			if r.chance(0.15) {
				prev[i].vout = uint32(r.intn(60))
			}
		}
		var scriptSig []byte
		switch tmpl {
		case tmplP2PKH:
			scriptSig = pushData(pushData(nil, derSig(r)), pubkey(r))
		case tmplP2SHWPKH:
			scriptSig = append([]byte{0x16, 0x00, 0x14}, r.bytes(20)...)
		}
		b.input(&prev[i].h, prev[i].vout, scriptSig, seq)
	}
	b.outputs(nOut)
	total := uint64(r.lognormal(2e6, 2.2)) + 600
	for o := range nOut {
		spk := spkChoice.pick(r)
		switch tmpl {
		case tmplP2TR, tmplP2TR1, tmplP2TR2, tmplInscription:
			if o == nOut-1 {
				spk = spkP2TR
			}
		case tmplP2WPKH, tmplP2WPKH2, tmplConsolidate:
			if o == nOut-1 {
				spk = spkP2WPKH
			}
		}
		value := total / uint64(nOut+1) * uint64(1+r.intn(3))
		if tmpl == tmplRunes {
			switch o {
			case 0:
				b.output(0, spkOpReturn, r.between(6, 40))
				continue
			case 1:
				value, spk = 546, spkP2TR
			}
		}
		if tmpl == tmplInscription && o == 0 {
			value, spk = 546, spkP2TR
		}
		b.output(value, spk, 0)
	}
	if segwit {
		b.startWitness()
		for range nIn {
			switch tmpl {
			case tmplP2WPKH, tmplP2WPKH2, tmplP2SHWPKH, tmplConsolidate, tmplBatch:
				b.witness(derSig(r), pubkey(r))
			case tmplMultisig:
				ws := []byte{0x52}
				for range 3 {
					ws = pushData(ws, pubkey(r))
				}
				ws = append(ws, 0x53, 0xae)
				b.witness([]byte{}, derSig(r), derSig(r), ws)
			case tmplInscription:
				b.witness(r.bytes(64), inscription(r), append([]byte{0xc0 | byte(r.intn(2))}, r.bytes(32)...))
			case tmplCoinjoin:
				if r.chance(0.5) {
					b.witness(r.bytes(64))
				} else {
					b.witness(derSig(r), pubkey(r))
				}
			default: // taproot key path
				if r.chance(0.1) {
					b.witness(append(r.bytes(64), 0x01))
				} else {
					b.witness(r.bytes(64))
				}
			}
		}
	}
	lock := uint32(0)
	if r.chance(0.55) {
		lock = uint32(m.s.chain.tip)
	}
	raw, txid, wtxid, weight := b.finish(lock)
	m.seq++
	t := &tx{seq: m.seq, txid: txid, wtxid: wtxid, raw: raw, weight: int32(weight), vsize: int32((weight + 3) / 4),
		nIn: nIn, nOut: nOut, tmpl: tmpl, prev: prev, poolIdx: -1}
	t.fee = int64(math.Ceil(pickFeerate(r) * float64(t.vsize)))
	return t
}

// inscription builds an ordinals envelope: mostly BRC-20 JSON, sometimes
// an image.
func inscription(r *rng) []byte {
	s := append([]byte{0x20}, r.bytes(32)...)
	s = append(s, 0xac, 0x00, 0x63) // <key> OP_CHECKSIG OP_FALSE OP_IF
	s = pushData(s, []byte("ord"))
	s = append(s, 0x01, 0x01)
	if r.chance(0.7) {
		s = pushData(s, []byte("text/plain;charset=utf-8"))
		s = append(s, 0x00)
		ticks := []string{"ordi", "sats", "rats", "piza", "trac", "MMSS", "BTCs"}
		body := fmt.Sprintf(`{"p":"brc-20","op":"%s","tick":"%s","amt":"%d"}`,
			[]string{"transfer", "mint", "transfer"}[r.intn(3)], ticks[r.intn(len(ticks))], 1000*(1+r.intn(1000)))
		s = pushData(s, []byte(body))
	} else {
		s = pushData(s, []byte("image/webp"))
		s = append(s, 0x00)
		for n := r.between(300, 1800); n > 0; n -= 520 {
			s = pushData(s, r.bytes(min(n, 520)))
		}
	}
	return append(s, 0x68) // OP_ENDIF
}

// pickFeerate draws a feerate in sat/vB: mostly near the floor, a
// priority tail.
func pickFeerate(r *rng) float64 {
	var f float64
	switch x := r.float(); {
	case x < 0.55:
		f = r.lognormal(2.2, 0.5)
	case x < 0.88:
		f = r.lognormal(5, 0.5)
	default:
		f = r.lognormal(18, 0.8)
	}
	return math.Max(1.01, math.Round(f*100)/100)
}

// arrival is one new transaction reaching the network around us.
func (m *mempool) arrival() {
	s := m.s
	r := s.rTx
	var t *tx
	switch x := r.float(); {
	case x < 0.025:
		t = m.build(tmplMix.pick(r), nil)
		t.fate, t.reason = fateReject, rejectReasons.pick(r)
		if t.reason == "min relay fee not met" {
			t.fee = int64(float64(t.vsize) * (0.1 + 0.8*r.float()))
		}
	case x < 0.055 && len(m.txs) > 0:
		old := m.txs[r.intn(len(m.txs))]
		if old.state != txInPool || old.parent != nil {
			t = m.build(tmplMix.pick(r), nil)
			break
		}
		t = m.build(old.tmpl, old.prev)
		t.fate, t.replaces = fateReplace, old
		t.fee = max(t.fee, old.fee+int64(t.vsize)+int64(r.intn(2000)))
	case x < 0.063:
		parent := m.build(tmplMix.pick(r), nil)
		t = m.build(tmplP2WPKH, []outpoint{{h: parent.txid, vout: 0}})
		t.fate, t.parent = fateOrphan, parent
		parent.t0 = s.now + int64(r.between(2000, 12000))
		s.at(parent.t0, func() { m.announce(parent) })
	default:
		t = m.build(tmplMix.pick(r), nil)
	}
	t.t0 = s.now
	m.announce(t)
}

// announce makes t known to the network: peers will announce it to us.
func (m *mempool) announce(t *tx) {
	if t.t0 == 0 {
		t.t0 = m.s.now
	}
	m.recent = append(m.recent, t)
}

// trimRecent forgets transactions no peer will announce any more.
func (m *mempool) trimRecent() {
	cut := m.s.now - announceMaxMs - 1000
	i := 0
	for i < len(m.recent) && m.recent[i].t0 < cut {
		i++
	}
	if i > 0 {
		m.recent = slices.Delete(m.recent, 0, i)
	}
}

// receive processes a transaction that arrived from p.
func (m *mempool) receive(t *tx, p *peer) {
	s := m.s
	if t.state == txInPool || t.state == txGone {
		return
	}
	switch {
	case t.fate == fateReject:
		m.reject(t, p, t.reason)
	case t.fate == fateOrphan && t.parent != nil && t.parent.state != txInPool && t.parent.state != txGone:
		m.reject(t, p, "bad-txns-inputs-missingorspent")
		m.addOrphan(t, p)
		if par := t.parent; par.state == txUnseen || par.state == txWaiting {
			s.requestTxs(p, []*tx{par}, true)
		}
	case t.feerate() < m.mempoolMinFee():
		m.reject(t, p, "mempool min fee not met")
	case t.fate == fateReplace && t.replaces != nil && t.replaces.state == txInPool:
		m.replace(t.replaces, t, p)
	default:
		m.add(t, p)
	}
}

func (m *mempool) reject(t *tx, p *peer, reason string) {
	s := m.s
	t.state = txRejected
	s.emit(mempoolEvent(&pb.MempoolEvent{Event: &pb.MempoolEvent_Rejected{Rejected: &pb.Rejected{
		Txid: t.txid[:], Reason: proto.String(reason)}}}))
	s.log(pb.LogDebugCategory_MEMPOOLREJ, fmt.Sprintf("%s (wtxid=%s) from peer=%d was not accepted: %s", hexRev(t.txid), hexRev(t.wtxid), p.id, reason))
}

// add puts t into the mempool and queues it for announcement to every
// peer that does not know it yet.
func (m *mempool) add(t *tx, p *peer) {
	s := m.s
	t.state = txInPool
	t.entry = s.now
	t.poolIdx = len(m.txs)
	m.txs = append(m.txs, t)
	m.vsize += int64(t.vsize)
	m.fees += t.fee
	m.usage += int64(len(t.raw))*3 + 400
	s.stats.TxAccepted++
	s.emit(mempoolEvent(&pb.MempoolEvent{Event: &pb.MempoolEvent_Added{Added: &pb.Added{
		Txid: t.txid[:], Vsize: proto.Int32(t.vsize), Fee: proto.Int64(t.fee)}}}))
	peerID := "0"
	if p != nil {
		peerID = strconv.FormatUint(p.id, 10)
	}
	s.log(pb.LogDebugCategory_MEMPOOL, "AcceptToMemoryPool: peer="+peerID+": accepted "+hexRev(t.txid)+" (wtxid="+hexRev(t.wtxid)+
		") (poolsz "+strconv.FormatInt(m.size(), 10)+" txn, "+strconv.FormatInt(m.bytes()/1000, 10)+" kB)")
	s.log(pb.LogDebugCategory_VALIDATION, "Enqueuing TransactionAddedToMempool: txid="+hexRev(t.txid)+" wtxid="+hexRev(t.wtxid))
	s.log(pb.LogDebugCategory_VALIDATION, "TransactionAddedToMempool: txid="+hexRev(t.txid)+" wtxid="+hexRev(t.wtxid))
	for _, q := range s.net.peers {
		if q.relay && q.handshake && !q.closed && !t.knows(q.slot) {
			q.outQ = append(q.outQ, t)
		}
	}
	// Orphans waiting for this parent can go in now.
	for i := 0; i < len(m.orphans); i++ {
		o := m.orphans[i]
		if o.parent == t {
			m.orphans = slices.Delete(m.orphans, i, i+1)
			i--
			s.log(pb.LogDebugCategory_TXPACKAGES, "   accepted orphan tx "+hexRev(o.txid)+" (wtxid="+hexRev(o.wtxid)+")")
			o.state = txRequested
			m.add(o, p)
		}
	}
}

// remove takes t out of the pool with the removed tracepoint (except for
// block inclusion, which the caller reports in block order).
func (m *mempool) remove(t *tx, reason string) {
	s := m.s
	if t.poolIdx >= 0 {
		last := m.txs[len(m.txs)-1]
		m.txs[t.poolIdx] = last
		last.poolIdx = t.poolIdx
		m.txs = m.txs[:len(m.txs)-1]
		t.poolIdx = -1
	}
	m.vsize -= int64(t.vsize)
	m.fees -= t.fee
	m.usage -= int64(len(t.raw))*3 + 400
	t.state = txGone
	s.emit(mempoolEvent(&pb.MempoolEvent{Event: &pb.MempoolEvent_Removed{Removed: &pb.Removed{
		Txid: t.txid[:], Reason: proto.String(reason), Vsize: proto.Int32(t.vsize), Fee: proto.Int64(t.fee),
		EntryTime: proto.Uint64(uint64(t.entry / 1000))}}}))
	if reason != "block" {
		s.log(pb.LogDebugCategory_VALIDATION, "Enqueuing TransactionRemovedFromMempool: txid="+hexRev(t.txid)+" wtxid="+hexRev(t.wtxid)+" reason="+reason)
		s.log(pb.LogDebugCategory_VALIDATION, "TransactionRemovedFromMempool: txid="+hexRev(t.txid)+" wtxid="+hexRev(t.wtxid)+" reason="+reason)
	}
}

// replace is a BIP125 replacement: the replaced tracepoint, the removal of
// the old transaction, then the new one's addition.
func (m *mempool) replace(old, t *tx, p *peer) {
	s := m.s
	s.log(pb.LogDebugCategory_MEMPOOL, fmt.Sprintf("replacing mempool tx %s (wtxid=%s, fees=%d, vsize=%d). New tx %s (wtxid=%s, fees=%d, vsize=%d)",
		hexRev(old.txid), hexRev(old.wtxid), old.fee, old.vsize, hexRev(t.txid), hexRev(t.wtxid), t.fee, t.vsize))
	s.emit(mempoolEvent(&pb.MempoolEvent{Event: &pb.MempoolEvent_Replaced{Replaced: &pb.Replaced{
		ReplacedTxid: old.txid[:], ReplacedVsize: proto.Int32(old.vsize), ReplacedFee: proto.Int64(old.fee),
		ReplacedEntryTime: proto.Uint64(uint64(old.entry / 1000)), ReplacementId: t.txid[:],
		ReplacementVsize: proto.Int32(t.vsize), ReplacementFee: proto.Int64(t.fee), ReplacedByTransaction: proto.Bool(true)}}}))
	m.remove(old, "replaced")
	m.add(t, p)
}

func (m *mempool) size() int64  { return int64(len(m.txs)) + m.bgCount }
func (m *mempool) bytes() int64 { return m.vsize + m.bgVsize }

// synthRemoval reports the removal of a background transaction (one that
// entered the mempool before the stream started).
func (m *mempool) synthRemoval(reason string, feerate float64, age int64) {
	s := m.s
	r := s.rTx
	h := r.hash32()
	vsize := int32(110 + r.intn(300))
	fee := int64(feerate * float64(vsize))
	m.bgCount--
	m.bgVsize -= int64(vsize)
	m.bgFee -= fee
	m.bgUsage -= int64(vsize) * 41 / 10
	s.emit(mempoolEvent(&pb.MempoolEvent{Event: &pb.MempoolEvent_Removed{Removed: &pb.Removed{
		Txid: h[:], Reason: proto.String(reason), Vsize: proto.Int32(vsize), Fee: proto.Int64(fee),
		EntryTime: proto.Uint64(uint64((s.now - age) / 1000))}}}))
	s.log(pb.LogDebugCategory_VALIDATION, "Enqueuing TransactionRemovedFromMempool: txid="+hexRev(h)+" wtxid="+hexRev(r.hash32())+" reason="+reason)
}

// expire drops background transactions older than two weeks.
func (m *mempool) expire() {
	r := m.s.rTx
	n := 1 + r.intn(4)
	for range n {
		m.synthRemoval("expiry", 1+r.float()*0.5, 336*3600e3+int64(r.exp(600e3)))
	}
	m.s.log(pb.LogDebugCategory_MEMPOOL, fmt.Sprintf("Expired %d transactions from the memory pool", n))
}

// sizeLimit is a burst of low-fee arrivals filling the mempool: the
// cheapest background transactions are evicted and the rolling minimum
// fee rises above the relay floor, then decays.
func (m *mempool) sizeLimit() {
	r := m.s.rTx
	top := 1 + r.float()*1.5
	for range 3 + r.intn(40) {
		m.synthRemoval("sizelimit", 1+r.float()*(top-1), int64(r.exp(3*86400e3)))
	}
	m.minFee = top + minRelay
	m.minFeeAt = m.s.now
}

// mempoolMinFee is Core's rolling minimum fee: halving every 12 hours,
// dropping to the relay floor once under half the incremental fee.
func (m *mempool) mempoolMinFee() float64 {
	if m.minFee == 0 {
		return minRelay
	}
	f := m.minFee * math.Pow(0.5, float64(m.s.now-m.minFeeAt)/(12*3600e3))
	if f < minRelay/2 {
		m.minFee = 0
		return minRelay
	}
	return math.Max(f, minRelay)
}

// take removes the transactions a miner includes in a block: the best
// feerates up to the weight limit. Children come only with their parents.
func (m *mempool) take(maxWeight int64, maxCount int) []*tx {
	cand := slices.Clone(m.txs)
	slices.SortFunc(cand, func(a, b *tx) int {
		fa, fb := a.feerate(), b.feerate()
		switch {
		case fa > fb:
			return -1
		case fa < fb:
			return 1
		}
		return int(a.seq) - int(b.seq)
	})
	var out []*tx
	w := int64(0)
	in := map[*tx]bool{}
	for _, t := range cand {
		if len(out) >= maxCount || w+int64(t.weight) > maxWeight {
			continue
		}
		if t.parent != nil && t.parent.state == txInPool && !in[t.parent] {
			continue
		}
		w += int64(t.weight)
		out = append(out, t)
		in[t] = true
	}
	return out
}

// addOrphan stores an orphan announced by p; the oldest is dropped when
// the orphanage is full.
func (m *mempool) addOrphan(t *tx, p *peer) {
	s := m.s
	t.state = txOrphan
	t.entry = s.now
	t.addFrom(p.id)
	if len(m.orphans) >= maxOrphans {
		i := s.rTx.intn(len(m.orphans))
		m.orphans[i].state = txGone
		m.orphans = slices.Delete(m.orphans, i, i+1)
		s.log(pb.LogDebugCategory_TXPACKAGES, "orphanage overflow, removed 1 tx")
	}
	m.orphans = append(m.orphans, t)
	s.log(pb.LogDebugCategory_TXPACKAGES, fmt.Sprintf("stored orphan tx %s (wtxid=%s), weight: %d (mapsz %d outsz %d)",
		hexRev(t.txid), hexRev(t.wtxid), t.weight, len(m.orphans), len(m.orphans)+t.nIn))
}

// sweepOrphans expires orphans older than 20 minutes.
func (m *mempool) sweepOrphans() {
	n := 0
	for i := 0; i < len(m.orphans); i++ {
		if m.s.now-m.orphans[i].entry > orphanExpire {
			m.orphans[i].state = txGone
			m.orphans = slices.Delete(m.orphans, i, i+1)
			i--
			n++
		}
	}
	if n > 0 {
		m.s.log(pb.LogDebugCategory_TXPACKAGES, fmt.Sprintf("Erased %d orphan transaction(s) due to expiration", n))
	}
}

// peerGone drops a disconnected peer from the orphans' announcers and
// erases orphans nobody else announced.
func (m *mempool) peerGone(p *peer) {
	n := 0
	for i := 0; i < len(m.orphans); i++ {
		o := m.orphans[i]
		if j := slices.Index(o.from, p.id); j >= 0 {
			o.from = slices.Delete(o.from, j, j+1)
			if len(o.from) == 0 {
				o.state = txGone
				m.orphans = slices.Delete(m.orphans, i, i+1)
				i--
				n++
			}
		}
	}
	if n > 0 {
		m.s.log(pb.LogDebugCategory_TXPACKAGES, fmt.Sprintf("Erased %d orphan transaction(s) from peer=%d", n, p.id))
	}
}

// lostOrphan: a child whose parent never reaches us (the parent was
// evicted elsewhere); it waits in the orphanage until it expires.
func (m *mempool) lostOrphan() {
	s := m.s
	var cands []*peer
	for _, p := range s.net.peers {
		if p.kind == pkNode && p.relay && p.handshake && !p.closed {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return
	}
	r := s.rTx
	p := cands[r.intn(len(cands))]
	parent := m.build(tmplP2WPKH, nil)
	parent.lost = true
	child := m.build(tmplP2WPKH, []outpoint{{h: parent.txid, vout: 0}})
	child.fate, child.parent = fateOrphan, parent
	child.t0 = s.now
	s.announceTo(p, []*tx{child})
}
