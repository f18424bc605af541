package wirepb

import (
	"net/netip"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

func TestInventoryItems(t *testing.T) {
	h := chainhash.Hash{1, 2, 3}
	hb := h[:]
	in := []*wire.InvVect{
		{Type: InvError, Hash: h}, {Type: InvTx, Hash: h}, {Type: InvBlock, Hash: h},
		{Type: InvCmpctBlock, Hash: h}, {Type: InvWTx, Hash: h}, {Type: InvWitnessTx, Hash: h},
		{Type: InvWitnessBlock, Hash: h}, {Type: 7, Hash: h},
	}
	want := []*pb.InventoryItem{
		{Item: &pb.InventoryItem_Error{Error: true}},
		{Item: &pb.InventoryItem_Transaction{Transaction: hb}},
		{Item: &pb.InventoryItem_Block{Block: hb}},
		{Item: &pb.InventoryItem_CompactBlock{CompactBlock: hb}},
		{Item: &pb.InventoryItem_Wtx{Wtx: hb}},
		{Item: &pb.InventoryItem_WitnessTransaction{WitnessTransaction: hb}},
		{Item: &pb.InventoryItem_WitnessBlock{WitnessBlock: hb}},
		{Item: &pb.InventoryItem_Unknown{Unknown: &pb.UnknownItem{InvType: proto.Uint32(7), Hash: hb}}},
	}
	got := InventoryItems(in)
	if len(got) != len(want) {
		t.Fatalf("%d items, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(want[i], got[i]) {
			t.Errorf("item %d (type %d): got %v, want %v", i, in[i].Type, prototext.Format(got[i]), prototext.Format(want[i]))
		}
	}
	// The hashes are copies: the wire values may be reused.
	in[1].Hash[0] = 0xff
	if got[1].GetTransaction()[0] != 1 {
		t.Error("InventoryItems aliases the wire hash")
	}
}

func TestLegacyAddress(t *testing.T) {
	onion := [16]byte{0xfd, 0x87, 0xd8, 0x7e, 0xeb, 0x43, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		name string
		ip   [16]byte
		want *pb.Address
	}{
		{"ipv4-mapped", netip.MustParseAddr("::ffff:1.2.3.4").As16(), &pb.Address{Address: &pb.Address_Ipv4{Ipv4: "1.2.3.4"}}},
		{"ipv4-compatible", netip.MustParseAddr("::1.2.3.4").As16(), &pb.Address{Address: &pb.Address_Ipv4{Ipv4: "1.2.3.4"}}},
		{"ipv6", netip.MustParseAddr("2001:db8::1").As16(), &pb.Address{Address: &pb.Address_Ipv6{Ipv6: "2001:db8::1"}}},
		{"onioncat", onion, &pb.Address{Address: &pb.Address_Torv2{Torv2: "aebagbafaydqqcik.onion"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Timestamp, tc.want.Services, tc.want.Port = proto.Uint32(7), proto.Uint64(9), proto.Uint32(8333)
			if got := LegacyAddress(7, 9, tc.ip, 8333); !proto.Equal(tc.want, got) {
				t.Errorf("got %v, want %v", prototext.Format(got), prototext.Format(tc.want))
			}
		})
	}
}

func TestSetAddrV2(t *testing.T) {
	b := func(n int) []byte {
		out := make([]byte, n)
		for i := range out {
			out[i] = byte(i + 1)
		}
		return out
	}
	unknown := func(id uint32, raw []byte) *pb.Address {
		return &pb.Address{Address: &pb.Address_Unknown{Unknown: &pb.UnknownAddress{Id: proto.Uint32(id), Address: raw}}}
	}
	mapped := netip.MustParseAddr("::ffff:1.2.3.4").As16()
	compat := netip.MustParseAddr("::1.2.3.4").As16()
	onion := append([]byte{0xfd, 0x87, 0xd8, 0x7e, 0xeb, 0x43}, b(10)...)
	for _, tc := range []struct {
		name string
		id   uint8
		raw  []byte
		want *pb.Address
	}{
		{"ipv4", 1, []byte{10, 0, 0, 1}, &pb.Address{Address: &pb.Address_Ipv4{Ipv4: "10.0.0.1"}}},
		{"ipv4 wrong length", 1, b(5), unknown(1, b(5))},
		{"ipv6", 2, netip.MustParseAddr("2001:db8::1").AsSlice(), &pb.Address{Address: &pb.Address_Ipv6{Ipv6: "2001:db8::1"}}},
		{"ipv6 ipv4-mapped", 2, mapped[:], unknown(2, mapped[:])},
		// Unlike in legacy addresses, ::a.b.c.d stays IPv6 under BIP155.
		{"ipv6 ipv4-compatible", 2, compat[:], &pb.Address{Address: &pb.Address_Ipv6{Ipv6: "::102:304"}}},
		{"ipv6 onioncat", 2, onion, unknown(2, onion)},
		{"torv2", 3, b(10), &pb.Address{Address: &pb.Address_Torv2{Torv2: "aebagbafaydqqcik.onion"}}},
		{"torv3", 4, b(32), &pb.Address{Address: &pb.Address_Torv3{Torv3: "aebagbafaydqqcikbmga2dqpcaireeyuculbogazdinryhi6d4qa.onion"}}},
		{"i2p", 5, b(32), &pb.Address{Address: &pb.Address_I2P{I2P: "aebagbafaydqqcikbmga2dqpcaireeyuculbogazdinryhi6d4qa.b32.i2p"}}},
		{"cjdns", 6, netip.MustParseAddr("fc00::1").AsSlice(), &pb.Address{Address: &pb.Address_Cjdns{Cjdns: "fc00::1"}}},
		{"unknown network", 9, b(3), unknown(9, b(3))},
		{"empty", 9, []byte{}, unknown(9, []byte{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &pb.Address{}
			SetAddrV2(a, tc.id, tc.raw)
			if !proto.Equal(tc.want, a) {
				t.Errorf("got %v, want %v", prototext.Format(a), prototext.Format(tc.want))
			}
		})
	}
}
