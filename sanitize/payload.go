package sanitize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/wire/v2"
)

// visitor is what the walkers call for every address, port, time and
// free-text string they find. The Sanitizer returns pseudonyms; the leak
// checker's collector records the values and returns them unchanged.
type visitor interface {
	// ip16 handles a 16-byte address of a legacy addr or version entry
	// (IPv6, IPv4-mapped, or OnionCat Tor v2).
	ip16(b [16]byte) [16]byte
	// addrV2 handles the address bytes of an addrv2 entry; the result has
	// the same length.
	addrV2(netID uint8, b []byte) []byte
	port(p uint16) uint16
	unixSeconds(t int64) int64
	text(s string) string
}

// addressCommands are the P2P message types whose payloads carry
// addresses; walkPayload understands exactly these.
var addressCommands = map[string]bool{"addr": true, "addrv2": true, "version": true}

// errPayload marks a payload that does not parse as its command says.
var errPayload = errors.New("malformed payload")

// walkPayload parses the raw P2P payload of an addr, addrv2 or version
// message (the bytes after the 24-byte header) and returns a new payload
// with every address, port, time and user agent replaced by what v
// returns. Everything else is copied byte for byte, so the result is the
// original message with only those fields changed.
//
// It walks the bytes itself, using btcd's wire for CompactSize integers
// (which rejects non-canonical encodings): wire.MsgAddrV2.BtcDecode skips
// I2P, CJDNS and unknown-network entries, so decoding and re-encoding
// with btcd would lose them. A payload that does not parse completely
// (truncated, trailing bytes, oversized entries) is an error wrapping
// errPayload; callers must then drop it, since it cannot be vouched for.
func walkPayload(cmd string, p []byte, v visitor) ([]byte, error) {
	w := &payloadWalker{in: p, out: make([]byte, 0, len(p)+16), v: v}
	var err error
	switch cmd {
	case "addr":
		err = w.addr()
	case "addrv2":
		err = w.addrv2()
	case "version":
		err = w.version()
	default:
		return nil, fmt.Errorf("%w: %q carries no known addresses", errPayload, cmd)
	}
	if err == nil && w.off != len(p) {
		err = fmt.Errorf("%d trailing bytes at offset %d", len(p)-w.off, w.off)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errPayload, cmd, err)
	}
	return w.out, nil
}

type payloadWalker struct {
	in  []byte
	off int
	out []byte
	v   visitor
}

var errShort = errors.New("truncated")

func (w *payloadWalker) take(n int) ([]byte, error) {
	if n < 0 || len(w.in)-w.off < n {
		return nil, fmt.Errorf("%w: want %d bytes at offset %d, have %d", errShort, n, w.off, len(w.in)-w.off)
	}
	b := w.in[w.off : w.off+n]
	w.off += n
	return b, nil
}

// copyN copies n bytes unchanged.
func (w *payloadWalker) copyN(n int) error {
	b, err := w.take(n)
	w.out = append(w.out, b...)
	return err
}

// varint reads a CompactSize and copies its bytes unchanged.
func (w *payloadWalker) varint() (uint64, error) {
	r := bytes.NewReader(w.in[w.off:])
	n, err := wire.ReadVarInt(r, wire.ProtocolVersion)
	if err != nil {
		return 0, fmt.Errorf("compact size at offset %d: %w", w.off, err)
	}
	used := len(w.in) - w.off - r.Len()
	return n, w.copyN(used)
}

func (w *payloadWalker) time32() error {
	b, err := w.take(4)
	if err != nil {
		return err
	}
	t := binary.LittleEndian.Uint32(b)
	if t != 0 {
		t = uint32(min(max(w.v.unixSeconds(int64(t)), 0), 1<<32-1))
	}
	w.out = binary.LittleEndian.AppendUint32(w.out, t)
	return nil
}

func (w *payloadWalker) port() error {
	b, err := w.take(2)
	if err != nil {
		return err
	}
	w.out = binary.BigEndian.AppendUint16(w.out, w.v.port(binary.BigEndian.Uint16(b)))
	return nil
}

func (w *payloadWalker) ip16() error {
	b, err := w.take(16)
	if err != nil {
		return err
	}
	r := w.v.ip16([16]byte(b))
	w.out = append(w.out, r[:]...)
	return nil
}

// maxAddrEntries bounds the entry count a payload may claim: Core sends
// at most 1000, and the count cannot exceed what the bytes can hold.
const maxAddrEntries = 1 << 16

func (w *payloadWalker) addr() error {
	n, err := w.varint()
	if err != nil {
		return err
	}
	if n > maxAddrEntries || n*30 != uint64(len(w.in)-w.off) {
		return fmt.Errorf("%d entries of 30 bytes do not fill %d bytes", n, len(w.in)-w.off)
	}
	for i := uint64(0); i < n; i++ {
		// time, services, address, port
		if err := w.time32(); err != nil {
			return err
		}
		if err := w.copyN(8); err != nil {
			return err
		}
		if err := w.ip16(); err != nil {
			return err
		}
		if err := w.port(); err != nil {
			return err
		}
	}
	return nil
}

// maxAddrV2Size is BIP155's limit on one address.
const maxAddrV2Size = 512

func (w *payloadWalker) addrv2() error {
	n, err := w.varint()
	if err != nil {
		return err
	}
	if n > maxAddrEntries || n*8 > uint64(len(w.in)-w.off) {
		return fmt.Errorf("%d entries cannot fit in %d bytes", n, len(w.in)-w.off)
	}
	for i := uint64(0); i < n; i++ {
		if err := w.time32(); err != nil {
			return err
		}
		if _, err := w.varint(); err != nil { // services
			return err
		}
		id, err := w.take(1)
		if err != nil {
			return err
		}
		w.out = append(w.out, id[0])
		size, err := w.varint()
		if err != nil {
			return err
		}
		if size > maxAddrV2Size {
			return fmt.Errorf("entry %d: address of %d bytes exceeds %d", i, size, maxAddrV2Size)
		}
		b, err := w.take(int(size))
		if err != nil {
			return err
		}
		r := w.v.addrV2(id[0], b)
		if len(r) != len(b) {
			return fmt.Errorf("entry %d: pseudonym changed the length", i)
		}
		w.out = append(w.out, r...)
		if err := w.port(); err != nil {
			return err
		}
	}
	return nil
}

func (w *payloadWalker) version() error {
	// version, services
	if err := w.copyN(12); err != nil {
		return err
	}
	b, err := w.take(8)
	if err != nil {
		return err
	}
	ts := int64(binary.LittleEndian.Uint64(b))
	if ts != 0 {
		ts = w.v.unixSeconds(ts)
	}
	w.out = binary.LittleEndian.AppendUint64(w.out, uint64(ts))
	// addr_recv: services, address, port (no time in version messages)
	if err := w.netAddrNoTime(); err != nil {
		return err
	}
	if w.off == len(w.in) {
		return nil // before protocol 106 the message ended here
	}
	// addr_from, nonce
	if err := w.netAddrNoTime(); err != nil {
		return err
	}
	if err := w.copyN(8); err != nil {
		return err
	}
	size, err := wire.ReadVarInt(bytes.NewReader(w.in[w.off:]), wire.ProtocolVersion)
	if err != nil {
		return fmt.Errorf("user agent length at offset %d: %w", w.off, err)
	}
	if size > wire.MaxUserAgentLen {
		return fmt.Errorf("user agent of %d bytes exceeds %d", size, wire.MaxUserAgentLen)
	}
	w.off += wire.VarIntSerializeSize(size)
	ua, err := w.take(int(size))
	if err != nil {
		return err
	}
	nua := w.v.text(string(ua))
	w.out = appendVarInt(w.out, uint64(len(nua)))
	w.out = append(w.out, nua...)
	// start height, then the optional relay flag (BIP37)
	if err := w.copyN(4); err != nil {
		return err
	}
	if w.off < len(w.in) {
		return w.copyN(1)
	}
	return nil
}

func (w *payloadWalker) netAddrNoTime() error {
	if err := w.copyN(8); err != nil {
		return err
	}
	if err := w.ip16(); err != nil {
		return err
	}
	return w.port()
}

func appendVarInt(dst []byte, n uint64) []byte {
	var buf bytes.Buffer
	_ = wire.WriteVarInt(&buf, wire.ProtocolVersion, n) // writes to a Buffer cannot fail
	return append(dst, buf.Bytes()...)
}
