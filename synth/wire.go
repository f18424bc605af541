package synth

import (
	"crypto/sha256"
	"encoding/binary"
)

// Wire sizes of P2P payloads (no 24-byte header), as the tracepoints
// report them in Metadata.size.

func varintLen(n uint64) int {
	switch {
	case n < 0xfd:
		return 1
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	}
	return 9
}

func appendVarint(b []byte, n uint64) []byte {
	switch {
	case n < 0xfd:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 0xfd, byte(n), byte(n>>8))
	case n <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(n))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xff), n)
}

// invSize is the size of inv, getdata and notfound payloads.
func invSize(n int) int { return varintLen(uint64(n)) + 36*n }

// headersSize: each header is followed by a zero transaction count.
func headersSize(n int) int { return varintLen(uint64(n)) + 81*n }

func getheadersSize(locators int) int { return 4 + varintLen(uint64(locators)) + 32*locators + 32 }

func versionSize(ua string) int {
	return 4 + 8 + 8 + 26 + 26 + 8 + varintLen(uint64(len(ua))) + len(ua) + 4 + 1
}

// sha256d is Bitcoin's double SHA-256 of the concatenated parts.
func sha256d(parts ...[]byte) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	var first [32]byte
	h.Sum(first[:0])
	return sha256.Sum256(first[:])
}

// txBuilder serializes a transaction in consensus form, keeping the
// boundaries needed for its txid (the serialization without marker, flag
// and witnesses).
type txBuilder struct {
	r      *rng
	b      []byte
	segwit bool
	midAt  int // start of the inputs (after version and marker/flag)
	witAt  int // start of the witnesses
	nIn    int
}

// script templates for outputs.
const (
	spkP2WPKH = iota
	spkP2TR
	spkP2PKH
	spkP2SH
	spkP2WSH
	spkOpReturn
)

var spkChoice = newWeighted(40, 30, 10, 12, 8)

func (t *txBuilder) begin(version uint32, segwit bool, nIn int) {
	t.b = binary.LittleEndian.AppendUint32(t.b[:0], version)
	t.segwit = segwit
	if segwit {
		t.b = append(t.b, 0, 1)
	}
	t.midAt = len(t.b)
	t.nIn = nIn
	t.b = appendVarint(t.b, uint64(nIn))
}

// input appends one input spending prev:vout with the given scriptSig.
func (t *txBuilder) input(prev *[32]byte, vout uint32, scriptSig []byte, seq uint32) {
	if prev == nil {
		t.rand(32)
	} else {
		t.b = append(t.b, prev[:]...)
	}
	t.b = binary.LittleEndian.AppendUint32(t.b, vout)
	t.b = appendVarint(t.b, uint64(len(scriptSig)))
	t.b = append(t.b, scriptSig...)
	t.b = binary.LittleEndian.AppendUint32(t.b, seq)
}

func (t *txBuilder) outputs(n int) { t.b = appendVarint(t.b, uint64(n)) }

// output appends an output paying value to a fresh script of kind spk.
func (t *txBuilder) output(value uint64, spk int, dataLen int) {
	t.b = binary.LittleEndian.AppendUint64(t.b, value)
	switch spk {
	case spkP2WPKH:
		t.b = append(t.b, 22, 0x00, 0x14)
		t.rand(20)
	case spkP2TR:
		t.b = append(t.b, 34, 0x51, 0x20)
		t.rand(32)
	case spkP2PKH:
		t.b = append(t.b, 25, 0x76, 0xa9, 0x14)
		t.rand(20)
		t.b = append(t.b, 0x88, 0xac)
	case spkP2SH:
		t.b = append(t.b, 23, 0xa9, 0x14)
		t.rand(20)
		t.b = append(t.b, 0x87)
	case spkP2WSH:
		t.b = append(t.b, 34, 0x00, 0x20)
		t.rand(32)
	case spkOpReturn:
		// Runes-style OP_RETURN OP_13 <push>.
		t.b = append(t.b, byte(3+dataLen), 0x6a, 0x5d, byte(dataLen))
		t.rand(dataLen)
	}
}

// outputScript appends an output with an explicit script.
func (t *txBuilder) outputScript(value uint64, script []byte) {
	t.b = binary.LittleEndian.AppendUint64(t.b, value)
	t.b = appendVarint(t.b, uint64(len(script)))
	t.b = append(t.b, script...)
}

func (t *txBuilder) rand(n int) {
	t.b = append(t.b, make([]byte, n)...)
	t.r.fill(t.b[len(t.b)-n:])
}

func (t *txBuilder) startWitness() { t.witAt = len(t.b) }

// witness appends one input's witness stack: item sizes, random contents
// except where the caller provides them (nil = random).
func (t *txBuilder) witness(items ...[]byte) {
	t.b = appendVarint(t.b, uint64(len(items)))
	for _, it := range items {
		t.b = appendVarint(t.b, uint64(len(it)))
		t.b = append(t.b, it...)
	}
}

// finish appends the locktime and returns the raw bytes, txid and wtxid
// (internal byte order) and the weight.
func (t *txBuilder) finish(locktime uint32) (raw []byte, txid, wtxid [32]byte, weight int) {
	if !t.segwit {
		t.witAt = len(t.b)
	}
	end := len(t.b)
	t.b = binary.LittleEndian.AppendUint32(t.b, locktime)
	raw = append([]byte(nil), t.b...)
	if !t.segwit {
		txid = sha256d(raw)
		return raw, txid, txid, len(raw) * 4
	}
	lock := raw[end:]
	txid = sha256d(raw[:4], raw[t.midAt:t.witAt], lock)
	wtxid = sha256d(raw)
	stripped := 4 + (t.witAt - t.midAt) + 4
	return raw, txid, wtxid, stripped*3 + len(raw)
}

// derSig returns a DER ECDSA signature with SIGHASH_ALL: 71 or 72 bytes,
// like the low-S signatures wallets produce.
func derSig(r *rng) []byte {
	rLen := 32
	highR := r.chance(0.5) // Core grinds for low R; other wallets do not
	if highR {
		rLen = 33
	}
	sig := make([]byte, 0, 73)
	sig = append(sig, 0x30, byte(4+rLen+32), 0x02, byte(rLen))
	if highR {
		sig = append(sig, 0x00)
		sig = append(sig, byte(0x80|r.u32()))
		sig = append(sig, r.bytes(31)...)
	} else {
		sig = append(sig, byte(0x7f&r.u32()|0x01))
		sig = append(sig, r.bytes(31)...)
	}
	sig = append(sig, 0x02, 32, byte(0x7f&r.u32()|0x01))
	sig = append(sig, r.bytes(31)...)
	return append(sig, 0x01)
}

func pubkey(r *rng) []byte {
	k := r.bytes(33)
	k[0] = 2 + k[0]&1
	return k
}

func pushData(b, data []byte) []byte {
	switch n := len(data); {
	case n < 0x4c:
		b = append(b, byte(n))
	case n <= 0xff:
		b = append(b, 0x4c, byte(n))
	default:
		b = append(b, 0x4d, byte(n), byte(n>>8))
	}
	return append(b, data...)
}
