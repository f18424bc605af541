package analyze

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseIPList(t *testing.T) {
	l, err := ParseIPList("test", strings.NewReader(`
# LinkingLion, as peer-observer matches it
162.218.65.0/24
2604:d500:4:1::/64   # the IPv6 range
  198.51.100.7
::ffff:203.0.113.9
10.1.2.3/8   # host bits set: 10.0.0.0/8
2001:db8::1/128
`))
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 6 {
		t.Errorf("Len = %d, want 6", l.Len())
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"162.218.65.254", true},
		{"162.218.66.1", false},
		{"2604:d500:4:1::3:fe", true},
		{"2604:d500:4:2::1", false},
		{"198.51.100.7", true},
		{"198.51.100.8", false},
		{"203.0.113.9", true},
		{"::ffff:198.51.100.7", true},
		{"10.200.0.1", true},
		{"11.0.0.1", false},
		{"2001:db8::1", true},
		{"2001:db8::2", false},
	} {
		if got := l.Contains(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	for _, s := range []string{"abcdef.onion", "", "not an ip"} {
		if l.ContainsString(s) {
			t.Errorf("ContainsString(%q) = true", s)
		}
	}
	var empty *IPList
	if empty.Contains(netip.MustParseAddr("1.2.3.4")) || empty.Len() != 0 || empty.ContainsString("1.2.3.4") {
		t.Error("nil list is not empty")
	}
}

func TestParseIPListErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"1.2.3.4\n1.2.3.400\n", "line 2"},
		{"10.0.0.0/33\n", "line 1"},
		{"# ok\n\nexample.com\n", "line 3"},
	} {
		_, err := ParseIPList("bad.txt", strings.NewReader(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.txt") {
			t.Errorf("ParseIPList(%q) = %v, want an error naming bad.txt and %s", tc.text, err, tc.want)
		}
	}
}

func TestLoadIPListDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tor-exit-nodes.txt"), []byte("185.220.100.253\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "linkinglion.txt"), []byte("143.20.137.0/24\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "unrelated.txt"), []byte("garbage"), 0o644)
	var ls IPLists
	loaded, err := ls.LoadIPListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(loaded, ",") != "tor_exit,linkinglion" {
		t.Errorf("loaded %v", loaded)
	}
	if !ls.TorExit.ContainsString("185.220.100.253") || !ls.LinkingLion.ContainsString("143.20.137.9") || ls.GmaxBan != nil {
		t.Errorf("lists not loaded as expected: %+v", ls)
	}
	if ls.TorExit.Name() != "tor_exit" {
		t.Errorf("name %q", ls.TorExit.Name())
	}
	os.WriteFile(filepath.Join(dir, "gmax-banlist.txt"), []byte("1.2.3\n"), 0o644)
	if _, err := ls.LoadIPListDir(dir); err == nil || !strings.Contains(err.Error(), "gmax-banlist.txt: line 1") {
		t.Errorf("bad file: err = %v", err)
	}
	if _, err := ls.LoadIPListDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing directory: no error")
	}
}

func TestIPFromAddrAndSubnet(t *testing.T) {
	for _, tc := range []struct{ addr, ip, subnet string }{
		{"127.0.0.1:8333", "127.0.0.1", "127.0.0.0"},
		{"[2604:d500:4:1::3:a2]:8333", "2604:d500:4:1::3:a2", "2604:d500:4:1::"},
		{"::1:8333", "::1", "::"},
		{"abcdefgh.onion:8333", "abcdefgh.onion", "abcdefgh.onion"},
		{"noport", "noport", "noport"},
		{"[::ffff:1.2.3.4]:8333", "::ffff:1.2.3.4", "::"},
	} {
		ip := ipFromAddr(tc.addr)
		if ip != tc.ip {
			t.Errorf("ipFromAddr(%q) = %q, want %q", tc.addr, ip, tc.ip)
		}
		if s := subnet(ip); s != tc.subnet {
			t.Errorf("subnet(%q) = %q, want %q", ip, s, tc.subnet)
		}
	}
}

func FuzzParseIPList(f *testing.F) {
	for _, s := range []string{"1.2.3.4\n", "10.0.0.0/8 # c\n", "2001:db8::/32\n::ffff:1.2.3.0/120\n", "#only\n\n", "x/y\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		l, err := ParseIPList("fuzz", strings.NewReader(text))
		if err != nil {
			return
		}
		// Every address line that parsed is contained.
		for _, line := range strings.Split(text, "\n") {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			line = strings.TrimSpace(line)
			if a, err := netip.ParseAddr(line); err == nil && !l.Contains(a) {
				t.Errorf("%q parsed but is not contained", line)
			}
			if p, err := netip.ParsePrefix(line); err == nil && !l.Contains(p.Masked().Addr()) {
				t.Errorf("prefix %q parsed but its first address is not contained", line)
			}
		}
	})
}
