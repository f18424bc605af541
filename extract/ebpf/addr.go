package ebpf

import (
	"bytes"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/btcsuite/btcd/wire/v2"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// Address rendering follows peer-observer (reference §2.7), so that the
// same message yields the same strings:
//   - IPv4 dotted quad; a legacy 16-byte address that is IPv4-mapped or
//     IPv4-compatible (::a.b.c.d, as Rust's Ipv6Addr::to_ipv4) is IPv4;
//   - IPv6 and CJDNS in RFC 5952 text form;
//   - a legacy address with the OnionCat prefix fd87:d87e:eb43::/48 is
//     TorV2, as is an addrv2 network 3 entry: lowercase unpadded RFC 4648
//     base32 of the 10 bytes plus ".onion";
//   - TorV3: base32 of the 32-byte public key plus ".onion" (52 characters
//     before the suffix, not a checksummed v3 address);
//   - I2P: base32 of the 32 bytes plus ".b32.i2p".

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func base32Lower(b []byte) string { return strings.ToLower(b32.EncodeToString(b)) }

var onionCat = []byte{0xfd, 0x87, 0xd8, 0x7e, 0xeb, 0x43}

// legacyAddress renders a 16-byte address from addr or version messages.
func legacyAddress(ts uint32, services uint64, ip [16]byte, port uint16) *pb.Address {
	a := &pb.Address{Timestamp: proto.Uint32(ts), Services: proto.Uint64(services), Port: proto.Uint32(uint32(port))}
	switch {
	case bytes.HasPrefix(ip[:], onionCat):
		a.Address = &pb.Address_Torv2{Torv2: base32Lower(ip[6:]) + ".onion"}
	case isIPv4In6(ip):
		a.Address = &pb.Address_Ipv4{Ipv4: netip.AddrFrom4([4]byte(ip[12:])).String()}
	default:
		a.Address = &pb.Address_Ipv6{Ipv6: netip.AddrFrom16(ip).String()}
	}
	return a
}

// isIPv4In6 is Rust's Ipv6Addr::to_ipv4: ::ffff:a.b.c.d or ::a.b.c.d.
func isIPv4In6(ip [16]byte) bool {
	for _, b := range ip[:10] {
		if b != 0 {
			return false
		}
	}
	return (ip[10] == 0 && ip[11] == 0) || (ip[10] == 0xff && ip[11] == 0xff)
}

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
		addrs[i] = legacyAddress(binary.LittleEndian.Uint32(buf[0:]), binary.LittleEndian.Uint64(buf[4:]),
			[16]byte(buf[12:28]), binary.BigEndian.Uint16(buf[28:]))
	}
	return addrs, end(r)
}

// BIP155 network ids and their address lengths.
var addrV2Len = map[uint8]int{1: 4, 2: 16, 3: 10, 4: 32, 5: 32, 6: 16}

const maxAddrV2Size = 512

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
		if size > maxAddrV2Size {
			return nil, fmt.Errorf("addrv2 entry %d: address of %d bytes exceeds %d", i, size, maxAddrV2Size)
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
		setAddrV2(a, net, raw)
		addrs[i] = a
	}
	return addrs, end(r)
}

// setAddrV2 sets a's address arm for a BIP155 network id and address.
func setAddrV2(a *pb.Address, net uint8, raw []byte) {
	if want, ok := addrV2Len[net]; ok && len(raw) == want {
		switch net {
		case 1:
			a.Address = &pb.Address_Ipv4{Ipv4: netip.AddrFrom4([4]byte(raw)).String()}
			return
		case 2:
			ip := [16]byte(raw)
			if !bytes.HasPrefix(raw, onionCat) && !(isIPv4In6(ip) && ip[10] == 0xff) {
				a.Address = &pb.Address_Ipv6{Ipv6: netip.AddrFrom16(ip).String()}
				return
			}
		case 3:
			a.Address = &pb.Address_Torv2{Torv2: base32Lower(raw) + ".onion"}
			return
		case 4:
			a.Address = &pb.Address_Torv3{Torv3: base32Lower(raw) + ".onion"}
			return
		case 5:
			a.Address = &pb.Address_I2P{I2P: base32Lower(raw) + ".b32.i2p"}
			return
		case 6:
			a.Address = &pb.Address_Cjdns{Cjdns: netip.AddrFrom16([16]byte(raw)).String()}
			return
		}
	}
	a.Address = &pb.Address_Unknown{Unknown: &pb.UnknownAddress{Id: proto.Uint32(uint32(net)), Address: raw}}
}
