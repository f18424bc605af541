package analyze

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// IPList is a set of IP addresses and CIDR prefixes, matched against peer
// addresses. The zero value and nil are empty lists.
//
// The file format (ParseIPList) is one entry per line: an IPv4 or IPv6
// address ("203.0.113.7", "2001:db8::1") or a CIDR prefix
// ("198.51.100.0/24", "2604:d500:4:1::/64"). Everything after '#' is a
// comment; blank lines are ignored; surrounding white space is trimmed.
// IPv4-mapped IPv6 addresses are treated as IPv4. A prefix with host bits
// set is masked ("10.1.2.3/8" means 10.0.0.0/8).
type IPList struct {
	name  string
	addrs map[netip.Addr]struct{}
	// prefixes by length; bits4 and bits6 list the lengths present, so a
	// lookup costs one map probe per distinct length.
	prefixes     map[netip.Prefix]struct{}
	bits4, bits6 []int
}

// Name returns the list's name as given to ParseIPList.
func (l *IPList) Name() string {
	if l == nil {
		return ""
	}
	return l.name
}

// Len returns the number of addresses and prefixes in the list.
func (l *IPList) Len() int {
	if l == nil {
		return 0
	}
	return len(l.addrs) + len(l.prefixes)
}

// Contains reports whether ip is in the list.
func (l *IPList) Contains(ip netip.Addr) bool {
	if l == nil || !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	if _, ok := l.addrs[ip]; ok {
		return true
	}
	bits := l.bits6
	if ip.Is4() {
		bits = l.bits4
	}
	for _, b := range bits {
		p, err := ip.Prefix(b)
		if err != nil {
			continue
		}
		if _, ok := l.prefixes[p]; ok {
			return true
		}
	}
	return false
}

// ContainsString parses s as an IP address (as ipFromAddr returns it) and
// reports whether it is in the list; anything that is not an IP address
// (an onion or I2P host) is not.
func (l *IPList) ContainsString(s string) bool {
	if l.Len() == 0 {
		return false
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return l.Contains(ip)
}

// ParseIPList reads a list in the format described at IPList. name is used
// in errors and by Name; errors carry the line number.
func ParseIPList(name string, r io.Reader) (*IPList, error) {
	l := &IPList{name: name, addrs: map[netip.Addr]struct{}{}, prefixes: map[netip.Prefix]struct{}{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.Contains(line, "/") {
			p, err := netip.ParsePrefix(line)
			if err != nil {
				return nil, fmt.Errorf("ip list %s: line %d: %q is not an IP address or CIDR prefix: %w", name, n, line, err)
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			p = p.Masked()
			if p.IsSingleIP() {
				l.addrs[p.Addr()] = struct{}{}
				continue
			}
			l.prefixes[p] = struct{}{}
			if p.Addr().Is4() {
				l.bits4 = appendUnique(l.bits4, p.Bits())
			} else {
				l.bits6 = appendUnique(l.bits6, p.Bits())
			}
			continue
		}
		ip, err := netip.ParseAddr(line)
		if err != nil {
			return nil, fmt.Errorf("ip list %s: line %d: %q is not an IP address or CIDR prefix: %w", name, n, line, err)
		}
		l.addrs[ip.Unmap()] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ip list %s: %w", name, err)
	}
	slices.Sort(l.bits4)
	slices.Sort(l.bits6)
	return l, nil
}

func appendUnique(s []int, v int) []int {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// LoadIPList reads the list file at path (format at IPList).
func LoadIPList(name, path string) (*IPList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ip list %s: %w", name, err)
	}
	defer f.Close()
	l, err := ParseIPList(path, f)
	if err != nil {
		return nil, err
	}
	l.name = name
	return l, nil
}

// IPLists are the lists peer-observer has built in. A nil list is empty.
type IPLists struct {
	// GmaxBan: Greg Maxwell's old Bitcoin ban list.
	GmaxBan *IPList
	// MoneroBan: the Monero community's ban list.
	MoneroBan *IPList
	// TorExit: Tor exit node addresses (torproject's torbulkexitlist).
	TorExit *IPList
	// LinkingLion: the ranges LinkingLion uses since 2026. It drives the
	// *_linkinglion message metrics, the "LinkingLion" user agent and
	// conn_inbound_list_linkinglion, as upstream's current list does.
	LinkingLion *IPList
	// LinkingLionPre2026: LinkingLion's older ranges
	// (rpc_peer_info_list_peers_linkinglion_pre2026).
	LinkingLionPre2026 *IPList
	// Bitprojects: addresses belonging to bitprojects.io.
	Bitprojects *IPList
}

// IPListFiles maps the file names LoadIPListDir looks for to the list
// they fill; every file is optional.
var IPListFiles = []struct {
	File string
	Name string
}{
	{"gmax-banlist.txt", "gmax_ban"},
	{"monero-banlist.txt", "monero_ban"},
	{"tor-exit-nodes.txt", "tor_exit"},
	{"linkinglion.txt", "linkinglion"},
	{"linkinglion-pre2026.txt", "linkinglion_pre2026"},
	{"bitprojects.txt", "bitprojects"},
}

// ByName returns a pointer to the list field with the given name (as in
// IPListFiles), or nil.
func (ls *IPLists) ByName(name string) **IPList {
	switch name {
	case "gmax_ban":
		return &ls.GmaxBan
	case "monero_ban":
		return &ls.MoneroBan
	case "tor_exit":
		return &ls.TorExit
	case "linkinglion":
		return &ls.LinkingLion
	case "linkinglion_pre2026":
		return &ls.LinkingLionPre2026
	case "bitprojects":
		return &ls.Bitprojects
	}
	return nil
}

// named returns the lists with their names in IPListFiles order.
func (ls *IPLists) named() []namedList {
	out := make([]namedList, 0, len(IPListFiles))
	for _, f := range IPListFiles {
		out = append(out, namedList{f.Name, *ls.ByName(f.Name)})
	}
	return out
}

type namedList struct {
	name string
	list *IPList
}

// LoadIPListDir loads every file of IPListFiles present in dir into ls,
// replacing lists already set, and returns the names it loaded. A missing
// file leaves that list as it was; a missing directory is an error.
func (ls *IPLists) LoadIPListDir(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("ip list directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("ip list directory %s: not a directory", dir)
	}
	var loaded []string
	for _, f := range IPListFiles {
		p := filepath.Join(dir, f.File)
		l, err := LoadIPList(f.Name, p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return loaded, err
		}
		*ls.ByName(f.Name) = l
		loaded = append(loaded, f.Name)
	}
	return loaded, nil
}
