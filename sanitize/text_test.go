package sanitize

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

// found lists the addresses scanText reports, as host text.
func found(s string) []string {
	var out []string
	scanText(s, func(t token) { out = append(out, s[t.start:t.end]) })
	return out
}

func TestScanText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"no addresses here", nil},
		{"peer=12 peeraddr=203.0.113.7:8333, ok", []string{"203.0.113.7"}},
		{"connected to 203.0.113.7.", []string{"203.0.113.7"}},
		{"refused 203.0.113.7: timeout", []string{"203.0.113.7"}},
		{"[2001:db8:85a3::8a2e:370:7334]:8333", []string{"2001:db8:85a3::8a2e:370:7334"}},
		{"bare 2001:db8::1 here", []string{"2001:db8::1"}},
		{"full 2001:0db8:0000:0000:0000:ff00:0042:8329 form", []string{"2001:0db8:0000:0000:0000:ff00:0042:8329"}},
		{"mapped ::ffff:198.51.100.23 and [::ffff:8.8.4.4]:18333", []string{"::ffff:198.51.100.23", "::ffff:8.8.4.4"}},
		{"cjdns [fc32:17ea:e415:c3bf:9808:149d:b5a2:c9aa]:8333", []string{"fc32:17ea:e415:c3bf:9808:149d:b5a2:c9aa"}},
		{"AddLocal(" + onion3 + ":8333,4)", []string{onion3}},
		{"v2 " + onion2 + " v3short x.onion", []string{onion2, "x.onion"}},
		{"i2p " + i2pA + ":0 done", []string{i2pA}},
		{"UPPER EXPYUZZ4WQQYQHJN.ONION", []string{"EXPYUZZ4WQQYQHJN.ONION"}},
		{"glued v203.0.113.7 and a8.8.4.4", []string{"203.0.113.7", "8.8.4.4"}},
		{"ab:198.51.100.23:8333", []string{"198.51.100.23"}},
		{"two 1.2.3.4,5.6.7.8;9.9.9.9", []string{"1.2.3.4", "5.6.7.8", "9.9.9.9"}},
		// Not addresses.
		{"CNode::CloseSocketDisconnect and std::string", nil},
		{"/Satoshi:27.0.0/ /btcwire:0.5.0/btcd:0.24.2/", nil},
		{"time 12:34:56.789 and ratio 3.14", nil},
		{"version 1.2.3.4.5 and 256.1.1.1 and 01.2.3.4", nil},
		{"mac aa:bb:cc:dd:ee:ff", nil},
		{"hash 00000000000000000002a7c4c1e48d76c5a37902165a270156b7a8d72728a054", nil},
		{"onionsite.onionx and .onion alone", nil},
	} {
		got := found(tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("scan %q:\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestTextRewrite(t *testing.T) {
	a, _ := NewAddress(testKey(t, 1), false, []string{selfV4})
	ps, _ := NewAddress(testKey(t, 1), true, nil)
	p := func(s string) string { h, _ := a.Host(s); return h }
	for _, tc := range []struct {
		in, want string
		scrub    bool
	}{
		{"peeraddr=" + v4a + ":8333 x", "peeraddr=" + p(v4a) + ":8333 x", false},
		{"peeraddr=" + v4a + ":8333 x", "peeraddr=" + p(v4a) + ":0 x", true},
		{"[" + v6a + "]:8333", "[" + p(v6a) + "]:8333", false},
		{"[" + v6a + "]:8333", "[" + p(v6a) + "]:0", true},
		{"from " + onion3 + ":8333", "from " + p(onion3) + ":8333", false},
		{"self " + selfV4 + " is me", "self 192.0.2.1 is me", false},
		{"loopback 127.0.0.1:9050 stays", "loopback 127.0.0.1:9050 stays", false},
		{"nothing", "nothing", false},
	} {
		aa := a
		if tc.scrub {
			aa = ps
			p = func(s string) string { h, _ := ps.Host(s); return h }
		}
		if got := aa.Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzScanText(f *testing.F) {
	for _, s := range []string{
		"peer=12 peeraddr=203.0.113.7:8333, ok", "[2001:db8::1]:8333", "::ffff:1.2.3.4", onion3 + ":8333",
		i2pA, "CNode::Close e::c", "1.2.3.4.5", "a:b::c:d:1.2.3.4]:", "[::]:0", "x.onion.onion:99999",
	} {
		f.Add(s)
	}
	a, _ := NewAddress(testKey(f, 1), true, nil)
	f.Fuzz(func(t *testing.T, s string) {
		var orig []netip.Addr
		last := 0
		scanText(s, func(tok token) {
			if tok.start < last || tok.end <= tok.start || tok.end > len(s) {
				t.Fatalf("bad span [%d,%d) after %d in %q", tok.start, tok.end, last, s)
			}
			if tok.portStart >= 0 && (tok.portStart < tok.end || tok.portEnd > len(s) || tok.portEnd <= tok.portStart) {
				t.Fatalf("bad port span [%d,%d) for host [%d,%d) in %q", tok.portStart, tok.portEnd, tok.start, tok.end, s)
			}
			last = tok.end
			if tok.kind == tokIP && !keptAsIs(tok.ip) {
				orig = append(orig, tok.ip.Unmap())
			}
		})
		out := a.Text(s)
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("rewrite broke UTF-8: %q -> %q", s, out)
		}
		// Every address found in the input is gone from the output,
		// unless a pseudonym happens to equal it (a tiny chance that the
		// fixed seed corpus does not hit).
		scanText(out, func(tok token) {
			if tok.kind != tokIP {
				return
			}
			for _, o := range orig {
				if tok.ip.Unmap() == o && a.IP(o) != o {
					t.Fatalf("address %v survived: %q -> %q", o, s, out)
				}
			}
		})
	})
}

// BenchmarkText scans 10,000 debug.log-like lines per iteration.
func BenchmarkText(b *testing.B) {
	a, _ := NewAddress(testKey(b, 1), false, nil)
	lines := []string{
		"received: inv (37 bytes) peer=12, peeraddr=203.0.113.7:8333",
		"Added connection to [2001:db8:85a3::8a2e:370:7334]:8333 peer=3",
		"/Satoshi:27.0.0/",
		"UpdateTip: new best=00000000000000000002a7c4c1e48d76c5a37902165a270156b7a8d72728a054 height=840000",
	}
	var n int64
	for i := 0; i < 10000; i++ {
		n += int64(len(lines[i%len(lines)]))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	count := 0
	for b.Loop() {
		for i := 0; i < 10000; i++ {
			a.Text(lines[i%len(lines)])
		}
		count += 10000
	}
	b.ReportMetric(float64(count)/b.Elapsed().Seconds(), "lines/s")
}

func TestHostPort(t *testing.T) {
	a, _ := NewAddress(testKey(t, 1), false, nil)
	ps, _ := NewAddress(testKey(t, 1), true, nil)
	h := func(s string) string { r, _ := a.Host(s); return r }
	for _, tc := range []struct {
		in, want, scrubbed string
	}{
		{"", "", ""},
		{v4a, h(v4a), h(v4a)},
		{v4a + ":8333", h(v4a) + ":8333", h(v4a) + ":0"},
		{v4a + ":", h(v4a) + ":", h(v4a) + ":"},
		{"[" + v6a + "]:8333", "[" + h(v6a) + "]:8333", "[" + h(v6a) + "]:0"},
		{"[" + v6a + "]", "[" + h(v6a) + "]", "[" + h(v6a) + "]"},
		{v6a, h(v6a), h(v6a)},
		{onion3 + ":1833", h(onion3) + ":1833", h(onion3) + ":0"}, // port cut by the 67-byte limit
		{i2pA + ":0", h(i2pA) + ":0", h(i2pA) + ":0"},
		{"127.0.0.1:9050", "127.0.0.1:9050", "127.0.0.1:0"},
		{"garbage:abc", "garbage:abc", "garbage:abc"},
		{"via " + v4b + ":8333 proxy", "via " + h(v4b) + ":8333 proxy", "via " + h(v4b) + ":0 proxy"},
	} {
		if got := a.HostPort(tc.in); got != tc.want {
			t.Errorf("HostPort(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := ps.HostPort(tc.in); got != tc.scrubbed {
			t.Errorf("scrubbed HostPort(%q) = %q, want %q", tc.in, got, tc.scrubbed)
		}
	}
	// Tor v3 pseudonyms are valid v3 names: the checksum matches.
	p := h(onion3)
	b, err := b32.DecodeString(strings.TrimSuffix(p, ".onion"))
	if err != nil || len(p) != len(onion3) || !bytes.Equal(torV3Bytes(b[:32], 3), b) {
		t.Errorf("pseudonym %s is no valid v3 name", p)
	}
	if short, _ := a.Host(onion3Short(t)); short != b32.EncodeToString(b[:32])+".onion" {
		t.Errorf("52-letter form maps to %s, not the key of %s", short, p)
	}
}
