// Package wirepb converts Bitcoin P2P wire values (btcd's wire types and
// raw BIP155 address bytes) into peer-observer protobuf values.
//
// Both the eBPF extractor (messages Bitcoin Core sent or received) and the
// P2P extractor (messages a node sent to us) render inventory items and
// addresses; they share these conversions so that the same message yields
// the same protobuf bytes whichever extractor saw it. Address strings
// follow peer-observer's rendering (reference §2.7):
//   - IPv4 dotted quad; a legacy 16-byte address that is IPv4-mapped or
//     IPv4-compatible (::a.b.c.d, as Rust's Ipv6Addr::to_ipv4) is IPv4;
//   - IPv6 and CJDNS in RFC 5952 text form;
//   - a legacy address with the OnionCat prefix fd87:d87e:eb43::/48 is
//     TorV2, as is an addrv2 network 3 entry: lowercase unpadded RFC 4648
//     base32 of the 10 bytes plus ".onion";
//   - TorV3: base32 of the 32-byte public key plus ".onion" (52 characters
//     before the suffix, not a checksummed v3 address);
//   - I2P: base32 of the 32 bytes plus ".b32.i2p".
//
// Every byte slice a function here returns is a fresh copy or the slice
// the caller passed in, as each function documents; none aliases btcd's
// message values.
package wirepb

import (
	"bytes"
	"encoding/base32"
	"net/netip"
	"strings"

	"github.com/btcsuite/btcd/wire/v2"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// Inventory types (Bitcoin Core's GetDataMsg in protocol.h).
const (
	InvError        = 0
	InvTx           = 1
	InvBlock        = 2
	InvCmpctBlock   = 4
	InvWTx          = 5
	InvWitnessTx    = 0x40000001
	InvWitnessBlock = 0x40000002
)

// InventoryItems converts inv, getdata and notfound items, hashes in
// internal byte order. Each item gets its own copy of its hash. A type
// Core does not know becomes an UnknownItem with its type and hash, and
// InvError the error arm (without its hash, as peer-observer).
func InventoryItems(list []*wire.InvVect) []*pb.InventoryItem {
	items := make([]*pb.InventoryItem, len(list))
	for i, iv := range list {
		h := bytes.Clone(iv.Hash[:])
		it := &pb.InventoryItem{}
		switch uint32(iv.Type) {
		case InvError:
			it.Item = &pb.InventoryItem_Error{Error: true}
		case InvTx:
			it.Item = &pb.InventoryItem_Transaction{Transaction: h}
		case InvBlock:
			it.Item = &pb.InventoryItem_Block{Block: h}
		case InvWTx:
			it.Item = &pb.InventoryItem_Wtx{Wtx: h}
		case InvWitnessTx:
			it.Item = &pb.InventoryItem_WitnessTransaction{WitnessTransaction: h}
		case InvWitnessBlock:
			it.Item = &pb.InventoryItem_WitnessBlock{WitnessBlock: h}
		case InvCmpctBlock:
			it.Item = &pb.InventoryItem_CompactBlock{CompactBlock: h}
		default:
			it.Item = &pb.InventoryItem_Unknown{Unknown: &pb.UnknownItem{InvType: proto.Uint32(uint32(iv.Type)), Hash: h}}
		}
		items[i] = it
	}
	return items
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func base32Lower(b []byte) string { return strings.ToLower(b32.EncodeToString(b)) }

var onionCat = []byte{0xfd, 0x87, 0xd8, 0x7e, 0xeb, 0x43}

// LegacyAddress renders a 16-byte address from an addr or version
// message with its time, services and port.
func LegacyAddress(ts uint32, services uint64, ip [16]byte, port uint16) *pb.Address {
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

// MaxAddrV2Size is BIP155's limit on the length of one addrv2 address.
const MaxAddrV2Size = 512

// BIP155 network ids and their address lengths.
var addrV2Len = map[uint8]int{1: 4, 2: 16, 3: 10, 4: 32, 5: 32, 6: 16}

// SetAddrV2 sets a's address arm for a BIP155 network id and address.
// An address that is no well-formed member of its network (wrong length,
// an IPv4-mapped or OnionCat address under the IPv6 id, an unknown
// network) becomes an UnknownAddress with its id and raw itself, so one
// odd entry does not cost its whole message. raw should be non-nil: an
// empty address then stays a present, empty required field.
func SetAddrV2(a *pb.Address, netID uint8, raw []byte) {
	if want, ok := addrV2Len[netID]; ok && len(raw) == want {
		switch netID {
		case 1:
			a.Address = &pb.Address_Ipv4{Ipv4: netip.AddrFrom4([4]byte(raw)).String()}
			return
		case 2:
			ip := [16]byte(raw)
			// BIP155: IPv4-mapped and OnionCat addresses are invalid under
			// the IPv6 id. (IPv4-compatible ::a.b.c.d is not, unlike in
			// LegacyAddress.)
			if !bytes.HasPrefix(raw, onionCat) && !netip.AddrFrom16(ip).Is4In6() {
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
	a.Address = &pb.Address_Unknown{Unknown: &pb.UnknownAddress{Id: proto.Uint32(uint32(netID)), Address: raw}}
}
