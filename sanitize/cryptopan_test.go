package sanitize

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// invert undoes a prefix permutation bit by bit: the flip of bit i depends
// only on the input bits before i, which are known by then. That invert
// exists is the proof that permute is injective.
func (p *prefixPerm) invert(out [16]byte) [16]byte {
	var in [16]byte
	for i := 0; i < p.width; i++ {
		// Compute the flip of bit i from the recovered prefix in[:i].
		probe := in
		setBit(&probe, i, false)
		a := p.permute(probe)
		flip := getBit(&a, i) // permute of a 0 bit shows the flip itself
		setBit(&in, i, getBit(&out, i) != flip)
	}
	return in
}

func getBit(a *[16]byte, i int) bool { return a[i/8]&(0x80>>(i%8)) != 0 }

func setBit(a *[16]byte, i int, v bool) {
	if v {
		a[i/8] |= 0x80 >> (i % 8)
	} else {
		a[i/8] &^= 0x80 >> (i % 8)
	}
}

func randAddr(r *rand.Rand, width int) [16]byte {
	var a [16]byte
	for i := 0; i < width/8; i++ {
		a[i] = byte(r.Uint32())
	}
	return a
}

// withPrefix returns b sharing exactly n leading bits with a (n < width).
func withPrefix(r *rand.Rand, a [16]byte, n, width int) [16]byte {
	b := randAddr(r, width)
	for i := 0; i < n; i++ {
		setBit(&b, i, getBit(&a, i))
	}
	setBit(&b, n, !getBit(&a, n))
	return b
}

func TestPrefixPreservation(t *testing.T) {
	k := testKey(t, 1)
	a, err := NewAddress(k, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	rounds := 20000
	if testing.Short() {
		rounds = 2000
	}
	for _, width := range []int{32, 128} {
		t.Run(fmt.Sprintf("width%d", width), func(t *testing.T) {
			for i := 0; i < rounds; i++ {
				x := randAddr(r, width)
				n := r.IntN(width)
				y := withPrefix(r, x, n, width)
				px, py := mapBits(a, x, width), mapBits(a, y, width)
				if got := commonPrefixLen(&px, &py, width); got != n {
					t.Fatalf("%v and %v share %d bits, their pseudonyms %v and %v share %d",
						toAddr(x, width), toAddr(y, width), n, toAddr(px, width), toAddr(py, width), got)
				}
			}
		})
	}
}

// mapBits maps through the public API, so the fixed points, pins and
// cycle walking are part of what is tested.
func mapBits(a *Address, x [16]byte, width int) [16]byte {
	ip := a.IP(toAddr(x, width))
	if width == 32 {
		b := ip.As4()
		return [16]byte{b[0], b[1], b[2], b[3]}
	}
	return ip.As16()
}

func toAddr(x [16]byte, width int) netip.Addr {
	if width == 32 {
		return netip.AddrFrom4([4]byte(x[:4]))
	}
	return netip.AddrFrom16(x)
}

func TestInjective(t *testing.T) {
	a, _ := NewAddress(testKey(t, 2), false, nil)
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		width int
		perm  *prefixPerm
	}{{32, a.v4}, {128, a.v6}} {
		for i := 0; i < 2000; i++ {
			x := randAddr(r, tc.width)
			if got := tc.perm.invert(tc.perm.permute(x)); got != x {
				t.Fatalf("width %d: invert(permute(%x)) = %x", tc.width, x, got)
			}
		}
	}
	// Every address of a /16 maps to a distinct pseudonym, fixed points
	// and cycle walking included (127.0.0.0/16 holds a fixed point).
	seen := map[netip.Addr]netip.Addr{}
	for _, base := range [][2]byte{{127, 0}, {192, 168}} {
		for i := 0; i < 1<<16; i++ {
			x := netip.AddrFrom4([4]byte{base[0], base[1], byte(i >> 8), byte(i)})
			p := a.IP(x)
			if prev, dup := seen[p]; dup {
				t.Fatalf("%v and %v both map to %v", prev, x, p)
			}
			seen[p] = x
		}
	}
}

func TestKeyDependence(t *testing.T) {
	a1, _ := NewAddress(testKey(t, 1), false, nil)
	a1again, _ := NewAddress(testKey(t, 1), false, nil)
	a2, _ := NewAddress(testKey(t, 2), false, nil)
	r := rand.New(rand.NewPCG(5, 6))
	same := 0
	const n = 1000
	for i := 0; i < n; i++ {
		for _, width := range []int{32, 128} {
			x := toAddr(randAddr(r, width), width)
			if a1.IP(x) != a1again.IP(x) {
				t.Fatalf("%v: two runs with one key disagree", x)
			}
			if a1.IP(x) == a2.IP(x) {
				same++
			}
		}
	}
	// Keys 1 and 2 agree only on fixed points and by chance.
	if same > 2 {
		t.Errorf("%d of %d addresses map alike under two keys", same, 2*n)
	}
	for _, s := range []string{onion2, onion3, i2pA} {
		h1, _ := a1.Host(s)
		h2, _ := a2.Host(s)
		if h1 == h2 {
			t.Errorf("%s maps to %s under both keys", s, h1)
		}
	}
}

func TestFixedPointsAndStructure(t *testing.T) {
	a, _ := NewAddress(testKey(t, 3), false, nil)
	for _, s := range []string{"0.0.0.0", "127.0.0.1", "::", "::1", "::ffff:0.0.0.0", "::ffff:127.0.0.1"} {
		ip := netip.MustParseAddr(s)
		if got := a.IP(ip); got != ip {
			t.Errorf("%v -> %v, want it kept", ip, got)
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 5000; i++ {
		v4 := toAddr(randAddr(r, 32), 32)
		p4 := a.IP(v4)
		if !p4.Is4() || (p4 == ipv4Any || p4 == ipv4Loopback) && !keptAsIs(v4) {
			t.Fatalf("%v -> %v", v4, p4)
		}
		// IPv4-mapped follows IPv4.
		mapped := netip.AddrFrom16(v4.As16())
		if got, want := a.IP(mapped), netip.AddrFrom16(p4.As16()); got != want {
			t.Fatalf("mapped %v -> %v, want %v", mapped, got, want)
		}
		v6 := toAddr(randAddr(r, 128), 128)
		p6 := a.IP(v6)
		b6, p := v6.As16(), p6.As16()
		if isCJDNS(b6) != isCJDNS(p) || isOnionCat(b6) != isOnionCat(p) || v6.Is4In6() != p6.Is4In6() {
			t.Fatalf("%v -> %v left or entered a structural range", v6, p6)
		}
		// CJDNS stays inside fc00::/8.
		c := b6
		c[0] = 0xfc
		if pc := a.IP(netip.AddrFrom16(c)).As16(); pc[0] != 0xfc {
			t.Fatalf("CJDNS %v left fc00::/8", netip.AddrFrom16(c))
		}
	}
}

func TestGoldenPseudonyms(t *testing.T) {
	a, _ := NewAddress(testKey(t, 1), false, nil)
	inputs := []string{v4a, v4b, v4c, "::ffff:" + v4a, v6a, v6b, cjdnsA, "fd87:d87e:eb43:25de:b744:916d:3ed8:2d36", onion2, onion3, i2pA}
	var got strings.Builder
	for _, in := range inputs {
		out, ok := a.Host(in)
		if !ok {
			t.Fatalf("%s not recognised", in)
		}
		fmt.Fprintf(&got, "%s %s\n", in, out)
	}
	path := filepath.Join("testdata", "pseudonyms.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	// Pseudonyms must never change between versions with the same key:
	// archives sanitized today must stay comparable with later ones.
	if got.String() != string(want) {
		sc := bufio.NewScanner(strings.NewReader(got.String()))
		for sc.Scan() {
			if !strings.Contains(string(want), sc.Text()) {
				t.Errorf("changed: %s", sc.Text())
			}
		}
		t.Fatal("pseudonyms differ from testdata/pseudonyms.golden")
	}
}

// The uncached cost of one pseudonym: 10,000 distinct addresses per
// iteration.
func BenchmarkIPv4Uncached(b *testing.B) {
	benchPerm(b, 32)
}

func BenchmarkIPv6Uncached(b *testing.B) {
	benchPerm(b, 128)
}

func benchPerm(b *testing.B, width int) {
	a, _ := NewAddress(testKey(b, 1), false, nil)
	perm := a.v4
	if width == 128 {
		perm = a.v6
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := 0; i < 10000; i++ {
			perm.permute([16]byte{0x2a, 0x01, byte(n >> 16), byte(n >> 8), byte(n)})
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "addresses/s")
}
