package synth

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// Mainnet around the default start: height, difficulty (1.487e14, compact
// bits 0x1701e493, 79 leading zero bits in a block hash), chain totals.
const (
	baseHeight   = 939_400
	blockBits    = 0x1701e493
	difficulty   = 148_700_636_018_515.28
	baseChainTx  = 1_310_000_000
	baseLog2Work = 95.853
	baseDiskSize = 762_000_000_000
	blockWorkLog = 79.0794
)

// blockRec is a block connected during the stream.
type blockRec struct {
	height   int32
	hash     [32]byte
	version  int32
	prev     [32]byte
	merkle   [32]byte
	time     uint32
	nonce    uint32
	coinbase *tx
	txs      []*tx // coinbase first
	mutated  bool
}

// chain is the node's view of the block chain. Hashes and headers of
// blocks before the stream are pure functions of the seed and height; the
// blocks found during the stream are kept while peers may ask for them.
type chain struct {
	s           *sim
	r           *rng
	tip         int32
	tipTime     int64 // ms our node connected the tip
	base        int32
	recs        map[int32]*blockRec
	chainTx     uint64
	log2Work    float64
	diskSize    uint64
	lastTxCount int
}

func newChain(s *sim) *chain {
	c := &chain{s: s, r: s.rBlocks, recs: map[int32]*blockRec{}}
	c.base = baseHeight + int32((s.start-DefaultStart.UnixMilli())/600_000)
	c.tip = c.base
	c.chainTx = uint64(baseChainTx + int64(c.base-baseHeight)*3600)
	c.log2Work = baseLog2Work + float64(c.base-baseHeight)*2.3e-17
	c.diskSize = uint64(baseDiskSize + int64(c.base-baseHeight)*1_700_000)
	c.lastTxCount = 3500
	c.tipTime = s.start - int64(c.r.exp(300e3))
	return c
}

func (c *chain) init() {
	c.s.after(c.r.expMs(600e3), c.found)
}

// hash is the block hash at height h (internal byte order), with the
// leading zeros a mainnet hash has. Synthetic blocks are not mined: the
// header does not hash to it.
func (c *chain) hash(h int32) [32]byte {
	if rec := c.recs[h]; rec != nil {
		return rec.hash
	}
	return c.derivedHash(h)
}

func (c *chain) derivedHash(h int32) [32]byte {
	var out [32]byte
	for i := range 4 {
		binary.LittleEndian.PutUint64(out[8*i:], mix64(c.s.o.Seed^uint64(h)*0x9e3779b97f4a7c15+uint64(i)))
	}
	for i := 23; i < 32; i++ {
		out[i] = 0
	}
	out[22] &= 0x01
	return out
}

// header returns the header of the block at height h.
func (c *chain) header(h int32) *pb.BlockHeader {
	if rec := c.recs[h]; rec != nil {
		return rec.pbHeader()
	}
	x := mix64(c.s.o.Seed ^ uint64(h)*0xd1b54a32d192ed03)
	hash := c.derivedHash(h)
	prev := c.derivedHash(h - 1)
	var merkle [32]byte
	binary.LittleEndian.PutUint64(merkle[:], mix64(x))
	binary.LittleEndian.PutUint64(merkle[8:], mix64(x+1))
	binary.LittleEndian.PutUint64(merkle[16:], mix64(x+2))
	binary.LittleEndian.PutUint64(merkle[24:], mix64(x+3))
	t := uint32(c.s.start/1000 - int64(c.base-h)*600 - int64(x%400))
	return &pb.BlockHeader{Version: proto.Int32(blockVersion(x)), PrevBlockhash: prev[:], MerkleRoot: merkle[:],
		Time: proto.Uint32(t), Bits: proto.Uint32(blockBits), Nonce: proto.Uint32(uint32(x >> 32)), Hash: hash[:]}
}

// blockVersion: BIP9 top bits with BIP320 version rolling in most blocks.
func blockVersion(x uint64) int32 {
	if x%5 < 2 {
		return 0x20000000
	}
	return int32(0x20000000 | (uint32(x>>20) & 0x1fffe000))
}

func (b *blockRec) pbHeader() *pb.BlockHeader {
	return &pb.BlockHeader{Version: proto.Int32(b.version), PrevBlockhash: b.prev[:], MerkleRoot: b.merkle[:],
		Time: proto.Uint32(b.time), Bits: proto.Uint32(blockBits), Nonce: proto.Uint32(b.nonce), Hash: b.hash[:]}
}

// fakeHeader is a header with random contents (invalid proof of work), as
// misbehaving peers send.
func (c *chain) fakeHeader(r *rng) *pb.BlockHeader {
	prev := c.hash(c.tip)
	h := r.hash32()
	m := r.hash32()
	return &pb.BlockHeader{Version: proto.Int32(0x20000000), PrevBlockhash: prev[:], MerkleRoot: m[:],
		Time: proto.Uint32(uint32(c.s.now / 1000)), Bits: proto.Uint32(blockBits), Nonce: proto.Uint32(r.u32()), Hash: h[:]}
}

var poolTags = []string{"/Foundry USA Pool #dropgold/", "Mined by AntPool", "/ViaBTC/Mined by ", "/F2Pool/", "/MARA Pool/",
	"SpiderPool/", "/SecPool/", "/Luxor/", "/binance/", "/OCEAN.XYZ/", "/SBICrypto.com Pool/"}

// coinbase builds the block's coinbase: BIP34 height, extranonce and
// pool tag, the reward and the witness commitment.
func (c *chain) coinbase(h int32, fees int64) *tx { return c.coinbaseNonce(h, fees, 32) }

// coinbaseNonce builds a coinbase whose witness reserved value has
// nonceSize bytes (32 is valid).
func (c *chain) coinbaseNonce(h int32, fees int64, nonceSize int) *tx {
	r := c.r
	b := txBuilder{r: r}
	b.begin(2, true, 1)
	hb := []byte{byte(h), byte(h >> 8), byte(h >> 16)}
	script := pushData(nil, hb)
	script = pushData(script, r.bytes(8))
	script = append(script, poolTags[r.intn(len(poolTags))]...)
	var zero [32]byte
	b.input(&zero, 0xffffffff, script, 0xffffffff)
	extra := r.intn(3)
	b.outputs(2 + extra)
	b.output(uint64(312_500_000+fees), []int{spkP2WPKH, spkP2SH, spkP2TR}[r.intn(3)], 0)
	for range extra {
		// Merged mining commitments (RSK and others).
		b.outputScript(0, append([]byte{0x6a, 0x29}, append([]byte("RSKBLOCK:"), r.bytes(32)...)...))
	}
	b.outputScript(0, append([]byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}, r.bytes(32)...))
	b.startWitness()
	b.witness(make([]byte, nonceSize))
	raw, txid, wtxid, weight := b.finish(0)
	return &tx{txid: txid, wtxid: wtxid, raw: raw, weight: int32(weight), vsize: int32((weight + 3) / 4), nIn: 1, nOut: 2 + extra, poolIdx: -1}
}

// found: a miner found the next block; it reaches us through a
// high-bandwidth compact block peer a moment later.
func (c *chain) found() {
	s := c.s
	at := s.now
	s.after(int64(c.r.lognormal(700, 0.7)), func() { c.arrive(at) })
	s.after(c.r.expMs(600e3), c.found)
}

func (c *chain) announcer() *peer {
	var hb, out []*peer
	for _, p := range c.s.net.peers {
		if p.closed || !p.handshake || p.kind != pkNode {
			continue
		}
		if p.hbFrom {
			hb = append(hb, p)
		} else if !p.inbound() {
			out = append(out, p)
		}
	}
	if len(hb) > 0 {
		return hb[c.r.intn(len(hb))]
	}
	if len(out) > 0 {
		return out[c.r.intn(len(out))]
	}
	return nil
}

// arrive: the compact block comes in, missing transactions are fetched,
// the block is reconstructed and connected.
func (c *chain) arrive(foundAt int64) {
	s := c.s
	r := c.r
	a := c.announcer()
	if a == nil {
		return
	}
	h := c.tip + 1
	act := math.Max(1, s.activity)
	txs := s.pool.take(int64(3_990_000*act), int(txRate*act*600*(1.2+0.4*r.float())))
	var priv []*tx
	for range r.intn(5) {
		t := s.pool.build(tmplMix.pick(r), nil)
		t.private = true
		priv = append(priv, t)
	}
	fees := int64(0)
	for _, t := range txs {
		fees += t.fee
	}
	cb := c.coinbase(h, fees)
	b := &blockRec{height: h, prev: c.hash(c.tip), time: uint32(foundAt/1000) - uint32(r.intn(30)), nonce: r.u32(), coinbase: cb}
	b.hash = c.derivedHash(h)
	b.merkle = r.hash32()
	b.version = blockVersion(r.u64())
	b.txs = append([]*tx{cb}, txs...)
	var missing []uint64
	for _, t := range priv {
		i := 1 + r.intn(len(b.txs))
		b.txs = append(b.txs[:i], append([]*tx{t}, b.txs[i:]...)...)
	}
	for i, t := range b.txs {
		if t.private {
			missing = append(missing, uint64(i))
		}
	}
	c.recs[h] = b
	delete(c.recs, h-4)
	size := c.cmpctblock(a, true, b)
	s.logNet(fmt.Sprintf("Saw new cmpctblock header hash=%s peer=%d", hexRev(b.hash), a.id))
	s.log(pb.LogDebugCategory_CMPCTBLOCK, fmt.Sprintf("Initializing PartiallyDownloadedBlock for block %s using a cmpctblock of %d bytes", hexRev(b.hash), size))
	a.lastBlock = s.now
	a.announced = h
	if len(missing) == 0 {
		c.reconstructed(b, a, 0)
		return
	}
	s.getblocktxn(a, false, b.hash, missing)
	s.after(a.rtt+int64(r.intn(4)), func() {
		var got []*tx
		for _, i := range missing {
			got = append(got, b.txs[i])
		}
		s.blocktxn(a, true, b.hash, got)
		c.reconstructed(b, a, len(missing))
	})
}

// cmpctblock emits a cmpctblock message: header, a fresh nonce and so
// fresh 6-byte short ids for every transaction but the prefilled coinbase.
func (c *chain) cmpctblock(p *peer, inbound bool, b *blockRec) int {
	r := c.r
	n := len(b.txs) - 1
	buf := r.bytes(6 * n)
	ids := make([][]byte, n)
	for i := range ids {
		ids[i] = buf[6*i : 6*i+6 : 6*i+6]
	}
	cb := b.coinbase
	size := 80 + 8 + varintLen(uint64(n)) + 6*n + varintLen(1) + varintLen(0) + len(cb.raw)
	c.s.msg(p, cmdCmpctblock, inbound, size, &pb.MessageEvent{Msg: &pb.MessageEvent_Compactblock{Compactblock: &pb.CompactBlock{
		Header: b.pbHeader(), Nonce: proto.Uint64(r.u64()), ShortIds: ids,
		Transactions: []*pb.PrefilledTransaction{{DiffIndex: proto.Uint32(0), Tx: pbTx(cb)}}}}})
	return size
}

func pbTx(t *tx) *pb.Transaction {
	return &pb.Transaction{Txid: t.txid[:], Wtxid: t.wtxid[:], Raw: t.raw}
}

func (s *sim) getblocktxn(p *peer, inbound bool, hash [32]byte, idx []uint64) {
	size := 32 + varintLen(uint64(len(idx)))
	last := uint64(0)
	for i, x := range idx {
		d := x
		if i > 0 {
			d = x - last - 1
		}
		size += varintLen(d)
		last = x
	}
	s.msg(p, cmdGetblocktxn, inbound, size, &pb.MessageEvent{Msg: &pb.MessageEvent_Getblocktxn{Getblocktxn: &pb.GetBlockTxn{
		BlockHash: hash[:], TxIndexes: idx}}})
}

func (s *sim) blocktxn(p *peer, inbound bool, hash [32]byte, txs []*tx) {
	size := 32 + varintLen(uint64(len(txs)))
	list := make([]*pb.Transaction, len(txs))
	for i, t := range txs {
		size += len(t.raw)
		list[i] = pbTx(t)
	}
	s.msg(p, cmdBlocktxn, inbound, size, &pb.MessageEvent{Msg: &pb.MessageEvent_Blocktxn{Blocktxn: &pb.BlockTxn{BlockHash: hash[:], Transactions: list}}})
}

// blockMsg emits a full block message.
func (s *sim) blockMsg(p *peer, inbound bool, b *blockRec) {
	size := 80 + varintLen(uint64(len(b.txs)))
	list := make([]*pb.Transaction, len(b.txs))
	for i, t := range b.txs {
		size += len(t.raw)
		list[i] = pbTx(t)
	}
	s.msg(p, cmdBlock, inbound, size, &pb.MessageEvent{Msg: &pb.MessageEvent_Block{Block: &pb.Block{Header: b.pbHeader(), Transactions: list}}})
}

func (s *sim) headersMsg(p *peer, inbound bool, hs []*pb.BlockHeader) {
	s.msg(p, cmdHeaders, inbound, headersSize(len(hs)), &pb.MessageEvent{Msg: &pb.MessageEvent_Headers{Headers: &pb.Headers{Headers: hs}}})
}

// getheaders emits a getheaders with a block locator from the tip (ten
// single steps, then doubling, then genesis). Ours is answered with the
// peer's (usually empty) headers; the peer's with ours.
func (s *sim) getheaders(p *peer, inbound bool) {
	c := s.chain
	from := c.tip
	if inbound && p.startH > 0 && p.startH < int64(from) {
		from = int32(p.startH)
	}
	var loc [][]byte
	step := int32(1)
	for h := from; h > 0; h -= step {
		x := c.hash(h)
		loc = append(loc, x[:])
		if len(loc) >= 10 {
			step *= 2
		}
	}
	g := c.hash(0)
	loc = append(loc, g[:])
	s.msg(p, cmdGetheaders, inbound, getheadersSize(len(loc)), &pb.MessageEvent{Msg: &pb.MessageEvent_Getheaders{Getheaders: &pb.GetHeaders{
		Version: proto.Uint32(70016), LocatorHashes: loc, StopHash: make([]byte, 32)}}})
	if inbound {
		s.respondAfter(func() {
			if p.closed {
				return
			}
			var hs []*pb.BlockHeader
			for h := from + 1; h <= c.tip && len(hs) < 2000; h++ {
				hs = append(hs, c.header(h))
			}
			s.headersMsg(p, false, hs)
		})
	}
}

// reconstructed: the block is complete. Core announces it to its
// high-bandwidth peers before validating it, then connects it.
func (c *chain) reconstructed(b *blockRec, a *peer, requested int) {
	s := c.s
	r := c.r
	s.log(pb.LogDebugCategory_CMPCTBLOCK, fmt.Sprintf("Successfully reconstructed block %s with 1 txn prefilled, %d txn from mempool (incl at least %d from extra pool) and %d txn requested",
		hexRev(b.hash), len(b.txs)-1-requested, r.intn(3), requested))
	for _, p := range s.net.peers {
		if p.hbTo && !p.closed && p.handshake {
			c.cmpctblock(p, false, b)
			p.announced = b.height
		}
	}
	ns := int64(r.lognormal(45e6, 0.6)) + int64(len(b.txs))*2000
	s.after(ns/1e6, func() { c.connect(b, a, ns) })
}

// connect is ConnectTip: the block_connected tracepoint, BlockChecked,
// the mempool removals, UpdateTip and the validation interface callbacks,
// then the announcements to peers.
func (c *chain) connect(b *blockRec, a *peer, ns int64) {
	s := c.s
	r := c.r
	if b.height != c.tip+1 {
		return // a competing block got there first
	}
	inputs, sigops := 0, 0
	for _, t := range b.txs {
		inputs += t.nIn
		sigops += t.nIn + 2*t.nOut
		if t.tmpl == tmplP2PKH {
			sigops += 12 * t.nIn
		}
	}
	hash := hexRev(b.hash)
	s.emit(ebpfEvent(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{Event: &pb.ValidationEvent_BlockConnected{BlockConnected: &pb.BlockConnected{
		Hash: b.hash[:], Height: proto.Int32(b.height), Transactions: proto.Int64(int64(len(b.txs))), Inputs: proto.Int32(int32(inputs)),
		Sigops: proto.Int64(int64(sigops)), ConnectionTime: proto.Uint64(uint64(ns))}}}}}))
	s.blockChecked(hash, "Valid", "")
	removed := 0
	for _, t := range b.txs[1:] {
		if t.state == txInPool {
			s.pool.remove(t, "block")
			removed++
		}
		t.state = txGone
	}
	// A few transactions conflict with the block's.
	for range r.intn(3) {
		if len(s.pool.txs) > 0 {
			s.pool.remove(s.pool.txs[r.intn(len(s.pool.txs))], "conflict")
		}
	}
	erased := 0
	for i := 0; i < len(s.pool.orphans); i++ {
		if s.pool.orphans[i].parent != nil && s.pool.orphans[i].parent.state == txGone && r.chance(0.5) {
			s.pool.orphans[i].state = txGone
			s.pool.orphans = append(s.pool.orphans[:i], s.pool.orphans[i+1:]...)
			i--
			erased++
		}
	}
	if erased > 0 {
		s.log(pb.LogDebugCategory_TXPACKAGES, fmt.Sprintf("Erased %d orphan transaction(s) included or conflicted by block", erased))
	}
	c.tip = b.height
	c.tipTime = s.now
	c.chainTx += uint64(len(b.txs))
	c.lastTxCount = len(b.txs)
	c.log2Work = math.Log2(math.Exp2(c.log2Work-blockWorkLog)+1) + blockWorkLog
	weight := 0
	for _, t := range b.txs {
		weight += int(t.weight)
	}
	c.diskSize += uint64(weight/4*5/4) + 400_000
	s.stats.Blocks++
	date := time.Unix(int64(b.time), 0).UTC().Format("2006-01-02T15:04:05Z")
	s.log(pb.LogDebugCategory_UNKNOWN, fmt.Sprintf("UpdateTip: new best=%s height=%d version=0x%08x log2_work=%.6f tx=%d date='%s' progress=1.000000 cache=%.1fMiB(%dtxo)",
		hash, b.height, uint32(b.version), c.log2Work, c.chainTx, date, 180+r.float()*120, 1_100_000+r.intn(700_000)))
	s.blockConnectedLog(hash, b.height)
	s.log(pb.LogDebugCategory_VALIDATION, fmt.Sprintf("Enqueuing MempoolTransactionsRemovedForBlock: block height=%d txs removed=%d", b.height, removed))
	s.log(pb.LogDebugCategory_VALIDATION, fmt.Sprintf("Enqueuing UpdatedBlockTip: new block hash=%s fork block hash=%s (in IBD=false)", hash, hexRev(b.prev)))
	ms := float64(ns) / 1e6
	for _, l := range []string{
		fmt.Sprintf("  - Sanity checks: %.2fms [%.2fs (%.2fms/blk)]", ms*0.02, 12+r.float(), ms*0.02),
		fmt.Sprintf("  - Fork checks: %.2fms [%.2fs (%.2fms/blk)]", ms*0.01, 3+r.float(), ms*0.01),
		fmt.Sprintf("      - Connect %d transactions: %.2fms (%.3fms/tx, %.3fms/txin) [%.2fs (%.2fms/blk)]", len(b.txs), ms*0.6, ms*0.6/float64(len(b.txs)), ms*0.6/float64(max(1, inputs)), 900+r.float()*100, ms*0.6),
		fmt.Sprintf("    - Verify %d txins: %.2fms (%.3fms/txin) [%.2fs (%.2fms/blk)]", inputs, ms*0.7, ms*0.7/float64(max(1, inputs)), 1200+r.float()*100, ms*0.7),
		fmt.Sprintf("    - Write undo data: %.2fms [%.2fs (%.2fms/blk)]", ms*0.05, 60+r.float(), ms*0.05),
		fmt.Sprintf("  - Connect total: %.2fms [%.2fs (%.2fms/blk)]", ms*0.85, 1500+r.float()*100, ms*0.85),
		fmt.Sprintf("  - Flush: %.2fms [%.2fs (%.2fms/blk)]", ms*0.1, 140+r.float(), ms*0.1),
		fmt.Sprintf("- Connect block: %.2fms [%.2fs (%.2fms/blk)]", ms, 1800+r.float()*100, ms),
	} {
		s.log(pb.LogDebugCategory_BENCH, l)
	}
	s.after(int64(1+r.intn(4)), func() {
		s.blockConnectedLog(hash, b.height)
		s.log(pb.LogDebugCategory_VALIDATION, fmt.Sprintf("MempoolTransactionsRemovedForBlock: block height=%d txs removed=%d", b.height, removed))
		s.log(pb.LogDebugCategory_VALIDATION, fmt.Sprintf("UpdatedBlockTip: new block hash=%s fork block hash=%s (in IBD=false)", hash, hexRev(b.prev)))
		s.log(pb.LogDebugCategory_ESTIMATEFEE, fmt.Sprintf("Blockpolicy estimates updated by %d of %d block txs, since last block %d of %d tracked, mempool map size %d, max target %d from current",
			removed*9/10, len(b.txs)-1, removed*9/10, removed+r.intn(200), s.pool.size(), 1008))
	})
	c.announce(b, a)
}

// announce sends the new block to peers that have not announced it to us,
// and lets the others announce it: cmpctblock from high-bandwidth peers,
// headers from peers that asked for them, inv from the rest.
func (c *chain) announce(b *blockRec, a *peer) {
	s := c.s
	r := c.r
	hdr := b.pbHeader()
	peers := append([]*peer(nil), s.net.peers...)
	for _, p := range peers {
		if p == a || p.closed || !p.handshake || p.hbTo || p.kind == pkFeelerIn || p.kind == pkChurn {
			continue
		}
		learn := s.now - int64(r.lognormal(300, 1)) + int64(r.lognormal(1500, 0.9)) + p.rtt/2
		ours := s.now + int64(5+r.intn(120))
		if (p.kind == pkNode || p.kind == pkBlocksOnly) && learn < ours+p.rtt/2 {
			s.at(learn, func() {
				if p.closed {
					return
				}
				switch {
				case p.hbFrom:
					c.cmpctblock(p, true, b)
				case p.headers:
					s.headersMsg(p, true, []*pb.BlockHeader{hdr})
				default:
					s.inv(p, true, []*pb.InventoryItem{{Item: &pb.InventoryItem_Block{Block: b.hash[:]}}})
					s.getheaders(p, false)
				}
				p.lastBlock = s.now
				p.announced = b.height
			})
			continue
		}
		s.at(ours, func() {
			if p.closed {
				return
			}
			p.announced = b.height
			if p.headers {
				s.headersMsg(p, false, []*pb.BlockHeader{hdr})
			} else {
				items := []*pb.InventoryItem{{Item: &pb.InventoryItem_Block{Block: b.hash[:]}}}
				s.inv(p, false, items)
				if p.kind == pkExtractor {
					s.emit(p2pEvent(&pb.P2P{P2PEvent: &pb.P2P_InventoryAnnouncement{InventoryAnnouncement: &pb.InventoryAnnouncement{
						Inventory: []*pb.InventoryItem{{Item: &pb.InventoryItem_Block{Block: b.hash[:]}}}}}}))
				}
			}
			if p.kind != pkNode {
				return
			}
			// Low-bandwidth compact block relay: the peer asks for it.
			if r.chance(0.15) {
				s.after(p.rtt+int64(r.intn(3)), func() {
					if p.closed {
						return
					}
					items := []*pb.InventoryItem{{Item: &pb.InventoryItem_CompactBlock{CompactBlock: b.hash[:]}}}
					s.getdata(p, true, items)
					s.logGetdata(p, items)
					s.respondAfter(func() {
						if p.closed {
							return
						}
						c.cmpctblock(p, false, b)
						if r.chance(0.25) && len(b.txs) > 2 {
							s.after(p.rtt, func() {
								if p.closed {
									return
								}
								idx := []uint64{uint64(1 + r.intn(len(b.txs)-1))}
								s.getblocktxn(p, true, b.hash, idx)
								s.respondAfter(func() {
									if !p.closed {
										s.blocktxn(p, false, b.hash, []*tx{b.txs[idx[0]]})
									}
								})
							})
						}
					})
				})
			}
		})
	}
	// Now and then a peer fetches the whole block.
	if r.chance(0.25) {
		var cands []*peer
		for _, p := range peers {
			if p.kind == pkNode && p.inbound() && !p.closed {
				cands = append(cands, p)
			}
		}
		if len(cands) > 0 {
			p := cands[r.intn(len(cands))]
			s.after(int64(r.between(1000, 8000)), func() {
				if p.closed {
					return
				}
				items := []*pb.InventoryItem{{Item: &pb.InventoryItem_WitnessBlock{WitnessBlock: b.hash[:]}}}
				s.getdata(p, true, items)
				s.logGetdata(p, items)
				s.respondAfter(func() {
					if !p.closed {
						s.blockMsg(p, false, b)
					}
				})
			})
		}
	}
}

// blockChecked is Core's BlockChecked validation callback line, which
// the log extractor turns into a BlockCheckedLog: state is "Valid" or a
// reject reason, debug the reason's detail.
func (s *sim) blockChecked(hash, state, debug string) {
	s.emit(&pb.Event{PeerObserverEvent: &pb.Event_LogExtractor{LogExtractor: &pb.Log{
		LogTimestamp: proto.Uint64(uint64(s.logUs())), Category: pb.LogDebugCategory_VALIDATION.Enum(),
		LogEvent: &pb.Log_BlockCheckedLog{BlockCheckedLog: &pb.BlockCheckedLog{BlockHash: proto.String(hash),
			State: proto.String(state), DebugMessage: proto.String(debug)}}}}})
}

// blockConnectedLog is the "(Enqueuing) BlockConnected: block hash=…
// block height=…" line as the log extractor parses it.
func (s *sim) blockConnectedLog(hash string, height int32) {
	s.emit(&pb.Event{PeerObserverEvent: &pb.Event_LogExtractor{LogExtractor: &pb.Log{
		LogTimestamp: proto.Uint64(uint64(s.logUs())), Category: pb.LogDebugCategory_VALIDATION.Enum(),
		LogEvent: &pb.Log_BlockConnectedLog{BlockConnectedLog: &pb.BlockConnectedLog{BlockHash: proto.String(hash),
			BlockHeight: proto.Uint32(uint32(height))}}}}})
}

// chainwork renders the cumulative work as getblockchaininfo does.
func (c *chain) chainwork() string {
	f := new(big.Float).SetMantExp(big.NewFloat(math.Exp2(c.log2Work-math.Floor(c.log2Work))), int(math.Floor(c.log2Work)))
	i, _ := f.Int(nil)
	return fmt.Sprintf("%064x", i)
}
