package p2p

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/wire/v2"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/extract/internal/wirepb"
	"github.com/peertape/peertape/proto/pb"
)

// Framing errors. Each closes the connection: a node that sends them is
// not speaking v1 to us, is on another network, or is hostile.
var (
	// ErrWrongMagic: the first bytes are not our network's magic. A Bitcoin
	// Core node that tries BIP324 (v2) first sends its public key here;
	// closing makes it retry with v1.
	ErrWrongMagic = errors.New("wrong network magic (a BIP324 v2 handshake, or a node on another network)")
	// ErrOversized: a header announces a payload larger than MaxMessageSize.
	ErrOversized = errors.New("message larger than the maximum size")
	// ErrMalformed: a header or payload that does not parse.
	ErrMalformed = errors.New("malformed message")
)

const headerSize = 24

// readMessage reads one v1 message: header (magic, command, length,
// checksum) and payload. The payload is allocated only after its length
// was checked against max, so a hostile length cannot exhaust memory.
func readMessage(r *bufio.Reader, magic wire.BitcoinNet, max uint32) (cmd string, payload []byte, err error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", nil, err
	}
	if got := wire.BitcoinNet(binary.LittleEndian.Uint32(hdr[0:4])); got != magic {
		return "", nil, fmt.Errorf("%w: got %08x, want %08x", ErrWrongMagic, uint32(got), uint32(magic))
	}
	cmd, err = parseCommand(hdr[4:16])
	if err != nil {
		return "", nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[16:20])
	if n > max {
		return cmd, nil, fmt.Errorf("%w: %s of %d bytes, limit %d", ErrOversized, cmd, n, max)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return cmd, nil, fmt.Errorf("%s payload: %w", cmd, err)
	}
	sum := sha256.Sum256(payload)
	sum = sha256.Sum256(sum[:])
	if !bytes.Equal(sum[:4], hdr[20:24]) {
		return cmd, nil, fmt.Errorf("%w: %s checksum %x, computed %x", ErrMalformed, cmd, hdr[20:24], sum[:4])
	}
	return cmd, payload, nil
}

// parseCommand applies Core's rule: printable ASCII, then only NUL padding.
func parseCommand(b []byte) (string, error) {
	end := bytes.IndexByte(b, 0)
	if end < 0 {
		end = len(b)
	}
	for _, c := range b[end:] {
		if c != 0 {
			return "", fmt.Errorf("%w: command %q has bytes after its NUL padding", ErrMalformed, b)
		}
	}
	for _, c := range b[:end] {
		if c < ' ' || c > '~' {
			return "", fmt.Errorf("%w: command %q is not printable ASCII", ErrMalformed, b[:end])
		}
	}
	if end == 0 {
		return "", fmt.Errorf("%w: empty command", ErrMalformed)
	}
	return string(b[:end]), nil
}

// encodeMessage frames msg for magic.
func encodeMessage(msg wire.Message, magic wire.BitcoinNet) ([]byte, error) {
	var buf bytes.Buffer
	if err := wire.WriteMessage(&buf, msg, protocolVersion, magic); err != nil {
		return nil, fmt.Errorf("encode %s: %w", msg.Command(), err)
	}
	return buf.Bytes(), nil
}

// decodeWire decodes payload into msg and requires it to be consumed.
func decodeWire(msg wire.Message, payload []byte, pver uint32) error {
	buf := bytes.NewBuffer(payload)
	if err := msg.BtcDecode(buf, pver, wire.LatestEncoding); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, msg.Command(), err)
	}
	if buf.Len() != 0 {
		return fmt.Errorf("%w: %s: %d bytes after the message", ErrMalformed, msg.Command(), buf.Len())
	}
	return nil
}

// maxAddrV2Entries is Core's MAX_ADDR_TO_SEND: a longer addrv2 is
// misbehaviour there, and a protocol error here.
const maxAddrV2Entries = 1000

// decodeAddrV2 decodes an addrv2 payload (BIP155) itself instead of with
// btcd's MsgAddrV2, which drops I2P, CJDNS and unknown networks. Address
// strings follow peer-observer's rendering (reference §2.7): IPv4 dotted,
// IPv6 and CJDNS in RFC 5952 form, Tor and I2P as lowercase unpadded
// base32 with .onion / .b32.i2p. An entry that is no well-formed member of
// its network becomes an UnknownAddress with its id and bytes.
func decodeAddrV2(payload []byte) ([]*pb.Address, error) {
	r := bytes.NewReader(payload)
	n, err := wire.ReadVarInt(r, protocolVersion)
	if err != nil {
		return nil, fmt.Errorf("%w: addrv2 count: %v", ErrMalformed, err)
	}
	if n > maxAddrV2Entries {
		return nil, fmt.Errorf("%w: addrv2 with %d entries, Core sends at most %d", ErrOversized, n, maxAddrV2Entries)
	}
	// time(4) services(>=1) network(1) length(>=1) port(2)
	if n > uint64(r.Len())/9 {
		return nil, fmt.Errorf("%w: addrv2: %d entries cannot fit in %d bytes", ErrMalformed, n, r.Len())
	}
	addrs := make([]*pb.Address, n)
	for i := range addrs {
		var ts [4]byte
		if _, err := io.ReadFull(r, ts[:]); err != nil {
			return nil, fmt.Errorf("%w: addrv2 entry %d: %v", ErrMalformed, i, err)
		}
		services, err := wire.ReadVarInt(r, protocolVersion)
		if err != nil {
			return nil, fmt.Errorf("%w: addrv2 entry %d services: %v", ErrMalformed, i, err)
		}
		netID, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%w: addrv2 entry %d network: %v", ErrMalformed, i, err)
		}
		size, err := wire.ReadVarInt(r, protocolVersion)
		if err != nil {
			return nil, fmt.Errorf("%w: addrv2 entry %d address length: %v", ErrMalformed, i, err)
		}
		if size > wirepb.MaxAddrV2Size || size > uint64(r.Len()) {
			return nil, fmt.Errorf("%w: addrv2 entry %d: address of %d bytes", ErrMalformed, i, size)
		}
		raw := make([]byte, size)
		io.ReadFull(r, raw)
		var port [2]byte
		if _, err := io.ReadFull(r, port[:]); err != nil {
			return nil, fmt.Errorf("%w: addrv2 entry %d port: %v", ErrMalformed, i, err)
		}
		a := &pb.Address{
			Timestamp: proto.Uint32(binary.LittleEndian.Uint32(ts[:])),
			Services:  proto.Uint64(services),
			Port:      proto.Uint32(uint32(binary.BigEndian.Uint16(port[:]))),
		}
		wirepb.SetAddrV2(a, netID, raw)
		addrs[i] = a
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: addrv2: %d bytes after the last entry", ErrMalformed, r.Len())
	}
	return addrs, nil
}
