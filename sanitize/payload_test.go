package sanitize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"
)

func mustHost(t testing.TB, a *Address, s string) string {
	t.Helper()
	h, ok := a.Host(s)
	if !ok {
		t.Fatalf("%s: not a host", s)
	}
	return h
}

func TestWalkAddrPayload(t *testing.T) {
	ips := []string{v4a, v6a, "fd87:d87e:eb43:25de:b744:916d:3ed8:2d36", cjdnsA, "127.0.0.1"}
	in := btcdAddrPayload(t, ips...)
	s := newSanitizer(t, Options{})
	out, err := walkPayload("addr", in, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("length %d, want %d", len(out), len(in))
	}
	var orig, got wire.MsgAddr
	if err := orig.BtcDecode(bytes.NewReader(in), wire.ProtocolVersion, wire.BaseEncoding); err != nil {
		t.Fatal(err)
	}
	if err := got.BtcDecode(bytes.NewReader(out), wire.ProtocolVersion, wire.BaseEncoding); err != nil {
		t.Fatalf("btcd cannot decode the rewritten payload: %v", err)
	}
	for i, o := range orig.AddrList {
		g := got.AddrList[i]
		oip, _ := netip.AddrFromSlice(o.IP)
		want := s.Address().IP(oip)
		gip, _ := netip.AddrFromSlice(g.IP)
		if gip.Unmap() != want.Unmap() || g.Port != o.Port || g.Services != o.Services || !g.Timestamp.Equal(o.Timestamp) {
			t.Errorf("entry %d: %v:%d -> %v:%d, want %v:%d", i, oip, o.Port, gip, g.Port, want, o.Port)
		}
		if ips[i] != "127.0.0.1" && gip.Unmap() == oip.Unmap() {
			t.Errorf("entry %d: %v unchanged", i, oip)
		}
	}
}

// addrV2Entry encodes one BIP155 entry by hand, for the networks btcd's
// encoder does not write (I2P, CJDNS, unknown).
func addrV2Entry(ts uint32, netID byte, addr []byte, port uint16) []byte {
	b := binary.LittleEndian.AppendUint32(nil, ts)
	b = append(b, 1, netID, byte(len(addr))) // services 1 (one-byte CompactSize)
	b = append(b, addr...)
	return binary.BigEndian.AppendUint16(b, port)
}

type recorder struct {
	addrs [][]byte
	ids   []uint8
}

func (r *recorder) ip16(b [16]byte) [16]byte {
	r.addrs = append(r.addrs, append([]byte(nil), b[:]...))
	return b
}
func (r *recorder) addrV2(id uint8, b []byte) []byte {
	r.ids = append(r.ids, id)
	r.addrs = append(r.addrs, append([]byte(nil), b...))
	return b
}
func (r *recorder) port(p uint16) uint16      { return p }
func (r *recorder) unixSeconds(t int64) int64 { return t }
func (r *recorder) text(s string) string      { return s }

func TestWalkAddrV2Payload(t *testing.T) {
	now := time.Unix(1_775_552_833, 0)
	msg := wire.NewMsgAddrV2()
	torv3 := make([]byte, 32)
	for i := range torv3 {
		torv3[i] = byte(i * 7)
	}
	known := [][]byte{netip.MustParseAddr(v4a).AsSlice(), netip.MustParseAddr(v6a).AsSlice(), []byte("0123456789"), torv3}
	for i, a := range known {
		msg.AddrList = append(msg.AddrList, wire.NetAddressV2FromBytes(now, wire.SFNodeNetwork, a, uint16(8333+i)))
	}
	var buf bytes.Buffer
	if err := msg.BtcEncode(&buf, wire.ProtocolVersion, wire.BaseEncoding); err != nil {
		t.Fatal(err)
	}
	in := buf.Bytes()
	i2p := bytes.Repeat([]byte{0x42}, 32)
	cj := netip.MustParseAddr(cjdnsA).AsSlice()
	unknown := []byte{9, 8, 7, 6, 5}
	in[0] += 3 // three more entries follow
	in = append(in, addrV2Entry(uint32(now.Unix()), 5, i2p, 0)...)
	in = append(in, addrV2Entry(uint32(now.Unix()), 6, cj, 8333)...)
	in = append(in, addrV2Entry(uint32(now.Unix()), 77, unknown, 1)...)

	s := newSanitizer(t, Options{ScrubPorts: true, TimeShift: -time.Hour})
	out, err := walkPayload("addrv2", in, s)
	if err != nil {
		t.Fatal(err)
	}
	var got wire.MsgAddrV2
	if err := got.BtcDecode(bytes.NewReader(out), wire.ProtocolVersion, wire.BaseEncoding); err != nil {
		t.Fatalf("btcd cannot decode the rewritten payload: %v", err)
	}
	if len(got.AddrList) != 4 { // btcd skips I2P, CJDNS and unknown entries
		t.Fatalf("btcd decoded %d entries", len(got.AddrList))
	}
	for i, g := range got.AddrList {
		want := mustHost(t, s.Address(), msg.AddrList[i].Addr.String())
		if g.Addr.String() != want || g.Port != 0 || !g.Timestamp.Equal(now.Add(-time.Hour)) || g.Services != wire.SFNodeNetwork {
			t.Errorf("entry %d: %s:%d at %v, want %s:0 at %v", i, g.Addr, g.Port, g.Timestamp, want, now.Add(-time.Hour))
		}
	}
	var r recorder
	if _, err := walkPayload("addrv2", out, &r); err != nil {
		t.Fatal(err)
	}
	if r.ids[4] != 5 || !bytes.Equal(r.addrs[4], s.Address().I2P(i2p)) {
		t.Errorf("I2P entry %x", r.addrs[4])
	}
	if r.ids[5] != 6 || netip.AddrFrom16([16]byte(r.addrs[5])) != s.Address().IP(netip.MustParseAddr(cjdnsA)) {
		t.Errorf("CJDNS entry %x", r.addrs[5])
	}
	if r.ids[6] != 77 || !bytes.Equal(r.addrs[6], s.Address().Unknown(77, unknown)) || bytes.Equal(r.addrs[6], unknown) {
		t.Errorf("unknown entry %x", r.addrs[6])
	}
}

func TestWalkVersionPayload(t *testing.T) {
	you := wire.NewNetAddressIPPort(net.ParseIP(v4a), 8333, wire.SFNodeNetwork)
	me := wire.NewNetAddressIPPort(net.ParseIP(v6a), 18333, 0)
	msg := wire.NewMsgVersion(me, you, 0xfeedface, 840000)
	msg.UserAgent = "/spam:" + v4b + "/"
	var buf bytes.Buffer
	if err := msg.BtcEncode(&buf, wire.ProtocolVersion, wire.BaseEncoding); err != nil {
		t.Fatal(err)
	}
	s := newSanitizer(t, Options{})
	out, err := walkPayload("version", buf.Bytes(), s)
	if err != nil {
		t.Fatal(err)
	}
	var got wire.MsgVersion
	if err := got.BtcDecode(bytes.NewBuffer(out), wire.ProtocolVersion, wire.BaseEncoding); err != nil {
		t.Fatalf("btcd cannot decode the rewritten payload: %v", err)
	}
	a := s.Address()
	if ip, _ := netip.AddrFromSlice(got.AddrYou.IP); ip.Unmap() != a.IP(netip.MustParseAddr(v4a)) {
		t.Errorf("receiver %v", ip)
	}
	if ip, _ := netip.AddrFromSlice(got.AddrMe.IP); ip != a.IP(netip.MustParseAddr(v6a)) || got.AddrMe.Port != 18333 {
		t.Errorf("sender %v", ip)
	}
	if got.UserAgent != "/spam:"+mustHost(t, a, v4b)+"/" || got.Nonce != 0xfeedface || got.LastBlock != 840000 || got.ProtocolVersion != msg.ProtocolVersion {
		t.Errorf("version %+v", got)
	}
}

func TestWalkPayloadRejectsDamage(t *testing.T) {
	good := btcdAddrPayload(t, v4a, v6a)
	s := newSanitizer(t, Options{})
	for _, tc := range []struct {
		name, cmd string
		p         []byte
	}{
		{"addr truncated", "addr", good[:len(good)-1]},
		{"addr trailing byte", "addr", append(append([]byte(nil), good...), 0)},
		{"addr count too large", "addr", append([]byte{3}, good[1:]...)},
		{"addr non-canonical count", "addr", append([]byte{0xfd, 2, 0}, good[1:]...)},
		{"addrv2 oversized address", "addrv2", append([]byte{1}, addrV2Entry(1, 9, make([]byte, 600), 0)...)},
		{"version short", "version", make([]byte, 40)},
		{"not an address command", "inv", []byte{0}},
		{"empty addr", "addr", nil},
	} {
		if _, err := walkPayload(tc.cmd, tc.p, s); !errors.Is(err, errPayload) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	// Every truncation of a good payload is an error, never a panic.
	for n := 0; n < len(good); n++ {
		if _, err := walkPayload("addr", good[:n], s); err == nil {
			t.Errorf("truncated to %d bytes: accepted", n)
		}
	}
}

func FuzzWalkPayload(f *testing.F) {
	f.Add(uint8(0), btcdAddrPayload(f, v4a, v6a))
	f.Add(uint8(1), append([]byte{2}, append(addrV2Entry(1, 1, []byte{1, 2, 3, 4}, 8333), addrV2Entry(2, 5, make([]byte, 32), 0)...)...))
	f.Add(uint8(2), make([]byte, 86))
	cmds := []string{"addr", "addrv2", "version"}
	s := newSanitizer(f, Options{ScrubPorts: true, TimeShift: time.Hour})
	f.Fuzz(func(t *testing.T, c uint8, p []byte) {
		cmd := cmds[int(c)%len(cmds)]
		out, err := walkPayload(cmd, p, s)
		if err != nil {
			return
		}
		// The rewritten payload parses again with the same shape.
		again, err := walkPayload(cmd, out, &recorder{})
		if err != nil {
			t.Fatalf("%s: output does not re-parse: %v", cmd, err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("%s: identity walk changed the output", cmd)
		}
		if cmd != "version" && len(out) != len(p) {
			t.Fatalf("%s: length %d -> %d", cmd, len(p), len(out))
		}
	})
}
