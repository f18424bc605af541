package sanitize

import (
	"crypto/aes"
	"crypto/cipher"
	"math/bits"
)

// prefixPerm is a keyed prefix-preserving permutation of width-bit
// strings (32 for IPv4, 128 for IPv6), the Crypto-PAn construction of Xu,
// Fan, Ammar and Moon: output bit i is input bit i XOR f(first i input
// bits), where f is the top bit of AES over those i bits padded with a
// secret pad. Any function of that shape is a bijection that preserves
// the length of common prefixes, whatever f is, so f may be forced to 0
// along chosen prefixes ("pins") without losing either property: a pinned
// range maps onto itself and nothing else maps into it.
//
// Unlike the original, each bit position has its own pad. With one pad,
// the AES input for bit i equals the one for bit i-1 whenever address bit
// i-1 equals pad bit i-1, so neighbouring flips repeat (visible as runs
// like "ffff" in the pseudonyms of addresses with many zero bits).
type prefixPerm struct {
	block cipher.Block
	pads  [128][16]byte
	width int
	pins  []pin
	// Scratch blocks: slices of locals would escape through the
	// cipher.Block interface and cost two allocations per address.
	in, enc [16]byte
}

// pin keeps the prefix of a range. With fixed, every address inside the
// range is a fixed point; otherwise only the range prefix is kept and the
// rest of the address is permuted.
type pin struct {
	prefix [16]byte
	bits   int
	fixed  bool
}

// newPrefixPerm builds the permutation from 32 bytes of key material: an
// AES-128 key and the seed from which AES makes the pads.
func newPrefixPerm(material []byte, width int, pins []pin) *prefixPerm {
	block, err := aes.NewCipher(material[:16])
	if err != nil {
		panic(err) // 16-byte keys are always valid
	}
	p := &prefixPerm{block: block, width: width, pins: pins}
	for i := range p.pads {
		seed := [16]byte(material[16:32])
		seed[15] ^= byte(i)
		block.Encrypt(p.pads[i][:], seed[:])
	}
	return p
}

// permute maps the first width bits of a; bytes beyond width/8 are
// returned as they are.
func (p *prefixPerm) permute(a [16]byte) [16]byte {
	keep := 0 // flips of bits [0, keep) are forced to zero
	for i := range p.pins {
		pn := &p.pins[i]
		cpl := commonPrefixLen(&a, &pn.prefix, p.width)
		if cpl >= pn.bits {
			if pn.fixed {
				return a
			}
			keep = max(keep, pn.bits)
			continue
		}
		// The first cpl bits still follow the pinned prefix, so the flip
		// of bit cpl is forced as well: that is what keeps every other
		// address out of the range.
		keep = max(keep, cpl+1)
	}
	out := a
	in, enc := &p.in, &p.enc
	for i := keep; i < p.width; i++ {
		// in = the first i bits of a, then pad i from bit i on.
		*in = p.pads[i]
		full := i / 8
		copy(in[:full], a[:full])
		if r := i % 8; r != 0 {
			mask := byte(0xff) << (8 - r)
			in[full] = a[full]&mask | in[full]&^mask
		}
		p.block.Encrypt(enc[:], in[:])
		if enc[0]&0x80 != 0 {
			out[i/8] ^= 0x80 >> (i % 8)
		}
	}
	return out
}

// commonPrefixLen returns the number of leading bits a and b share,
// at most width.
func commonPrefixLen(a, b *[16]byte, width int) int {
	for i := 0; i < width/8; i++ {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return width
}

// ipv6Pins keep the structure of IPv6 space. The paths they force run
// through 0000::/3, so a global unicast address (2000::/3) keeps only
// those three bits, which everyone knows anyway. IPv4 has no pins: any pin
// keeps the leading bits of the addresses near it (with 0.0.0.0/8 pinned,
// every 1.x.x.x address would keep its whole first octet), so its two
// fixed points are made by cycle walking instead (see Address.ip).
var ipv6Pins = []pin{
	{prefix: [16]byte{}, bits: 128, fixed: true},                     // ::
	{prefix: [16]byte{15: 1}, bits: 128, fixed: true},                // ::1
	{prefix: [16]byte{10: 0xff, 11: 0xff}, bits: 96},                 // IPv4-mapped
	{prefix: [16]byte{0xfc}, bits: 8},                                // CJDNS
	{prefix: [16]byte{0xfd, 0x87, 0xd8, 0x7e, 0xeb, 0x43}, bits: 48}, // OnionCat (Tor v2)
}
