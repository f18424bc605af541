package ebpf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/wire/v2"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/extract/internal/wirepb"
	"github.com/peertape/peertape/proto/pb"
)

// decodeAddr decodes an addr payload: count, then per entry time (u32),
// services (u64), 16-byte address and big-endian port. Unlike btcd's
// MsgAddr it accepts more than 1,000 entries: an observer wants to see the
// oversized messages Core punishes.
func decodeAddr(payload []byte) ([]*pb.Address, error) {
	r := bytes.NewReader(payload)
	n, err := wire.ReadVarInt(r, pver)
	if err != nil {
		return nil, fmt.Errorf("addr count: %w", err)
	}
	const entry = 4 + 8 + 16 + 2
	if n > uint64(r.Len())/entry {
		return nil, fmt.Errorf("addr: %d entries cannot fit in %d bytes: %w", n, r.Len(), io.ErrUnexpectedEOF)
	}
	addrs := make([]*pb.Address, n)
	var buf [entry]byte
	for i := range addrs {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return nil, err
		}
		addrs[i] = wirepb.LegacyAddress(binary.LittleEndian.Uint32(buf[0:]), binary.LittleEndian.Uint64(buf[4:]),
			[16]byte(buf[12:28]), binary.BigEndian.Uint16(buf[28:]))
	}
	return addrs, end(r)
}

// decodeAddrV2 decodes an addrv2 payload (BIP155). An entry whose address
// is not a well-formed member of a known network (wrong length, an IPv4 or
// OnionCat address under the IPv6 id, an unknown network) becomes an UnknownAddress with its id and bytes, so one
// odd entry does not cost the whole message.
func decodeAddrV2(payload []byte) ([]*pb.Address, error) {
	r := bytes.NewReader(payload)
	n, err := wire.ReadVarInt(r, pver)
	if err != nil {
		return nil, fmt.Errorf("addrv2 count: %w", err)
	}
	// time(4) services(>=1) network(1) length(>=1) port(2)
	if n > uint64(r.Len())/9 {
		return nil, fmt.Errorf("addrv2: %d entries cannot fit in %d bytes: %w", n, r.Len(), io.ErrUnexpectedEOF)
	}
	addrs := make([]*pb.Address, n)
	for i := range addrs {
		var ts [4]byte
		if _, err := io.ReadFull(r, ts[:]); err != nil {
			return nil, fmt.Errorf("addrv2 entry %d: %w", i, err)
		}
		services, err := wire.ReadVarInt(r, pver)
		if err != nil {
			return nil, fmt.Errorf("addrv2 entry %d services: %w", i, err)
		}
		net, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("addrv2 entry %d network: %w", i, err)
		}
		size, err := wire.ReadVarInt(r, pver)
		if err != nil {
			return nil, fmt.Errorf("addrv2 entry %d address length: %w", i, err)
		}
		if size > wirepb.MaxAddrV2Size {
			return nil, fmt.Errorf("addrv2 entry %d: address of %d bytes exceeds %d", i, size, wirepb.MaxAddrV2Size)
		}
		raw := make([]byte, size)
		if _, err := io.ReadFull(r, raw); err != nil {
			return nil, fmt.Errorf("addrv2 entry %d address: %w", i, err)
		}
		var port [2]byte
		if _, err := io.ReadFull(r, port[:]); err != nil {
			return nil, fmt.Errorf("addrv2 entry %d port: %w", i, err)
		}
		a := &pb.Address{Timestamp: proto.Uint32(binary.LittleEndian.Uint32(ts[:])), Services: proto.Uint64(services),
			Port: proto.Uint32(uint32(binary.BigEndian.Uint16(port[:])))}
		wirepb.SetAddrV2(a, net, raw)
		addrs[i] = a
	}
	return addrs, end(r)
}
