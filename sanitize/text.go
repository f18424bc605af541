package sanitize

import (
	"net/netip"
	"strings"
)

// tokenKind tells which family an address found in text belongs to.
type tokenKind uint8

const (
	tokIP    tokenKind = iota + 1
	tokOnion           // name ending in .onion
	tokI2P             // name ending in .b32.i2p
)

// token is one address found in free text. [start, end) is the host as
// written (without brackets, with the .onion or .b32.i2p suffix);
// [portStart, portEnd) the port digits after it, or -1.
type token struct {
	kind               tokenKind
	start, end         int
	ip                 netip.Addr
	portStart, portEnd int
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isRunChar(c byte) bool { return isHex(c) || c == ':' || c == '.' }

func isWordChar(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
}

func isBase32(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')
}

// scanText calls fn for every address in s, in order of position, without
// overlaps. It finds IPv4 (dotted quad, optionally with :port), IPv6 (any
// RFC 4291 text form, with embedded IPv4, bracketed with :port or bare
// between non-word characters), and names ending in .onion or .b32.i2p
// (any base32 label, with :port). It errs on the side of finding too
// much: a dotted quad inside a word is still an address.
func scanText(s string, fn func(token)) {
	if strings.IndexByte(s, '.') < 0 && strings.IndexByte(s, ':') < 0 {
		return
	}
	names := scanNames(s)
	// Tokens reach fn in order and never overlap, ports included.
	lastEnd := 0
	out := func(t token) {
		if t.start < lastEnd {
			return
		}
		fn(t)
		lastEnd = max(t.end, t.portEnd)
	}
	ni := 0
	emit := func(t token) {
		for ni < len(names) && names[ni].end <= t.start {
			nm := names[ni]
			if nm.portEnd > t.start {
				nm.portStart, nm.portEnd = -1, -1 // "x.onion:1.2.3.4"
			}
			out(nm)
			ni++
		}
		if ni < len(names) {
			if names[ni].start < t.end {
				return // inside a name: the name wins
			}
			if names[ni].start < t.portEnd {
				t.portStart, t.portEnd = -1, -1 // "1.2.3.4:2.onion"
			}
		}
		out(t)
	}
	for i := 0; i < len(s); {
		if !isRunChar(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isRunChar(s[j]) {
			j++
		}
		scanRun(s, i, j, emit)
		i = j
	}
	for ; ni < len(names); ni++ {
		out(names[ni])
	}
}

// scanNames finds .onion and .b32.i2p names.
func scanNames(s string) []token {
	var out []token
	for off := 0; ; {
		k := strings.IndexByte(s[off:], '.')
		if k < 0 {
			return out
		}
		dot := off + k
		off = dot + 1
		var kind tokenKind
		var end int
		switch {
		case hasPrefixFold(s[dot:], ".onion"):
			kind, end = tokOnion, dot+len(".onion")
		case hasPrefixFold(s[dot:], ".b32.i2p"):
			kind, end = tokI2P, dot+len(".b32.i2p")
		default:
			continue
		}
		if end < len(s) && isWordChar(s[end]) {
			continue
		}
		start := dot
		for start > 0 && isBase32(s[start-1]) {
			start--
		}
		if start == dot {
			continue
		}
		if n := len(out); n > 0 {
			if start < out[n-1].end {
				continue
			}
			if start < out[n-1].portEnd {
				// "a.onion:23456bbbb.b32.i2p": the name wins over the port.
				out[n-1].portStart, out[n-1].portEnd = -1, -1
			}
		}
		t := token{kind: kind, start: start, end: end, portStart: -1, portEnd: -1}
		t.portStart, t.portEnd = portAfter(s, end)
		out = append(out, t)
		off = end
	}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// portAfter returns the span of the digits in ":digits" at s[at:], or -1.
func portAfter(s string, at int) (int, int) {
	if at >= len(s) || s[at] != ':' {
		return -1, -1
	}
	k := at + 1
	for k < len(s) && isDigit(s[k]) && k-at <= 5 {
		k++
	}
	if k == at+1 || (k < len(s) && isDigit(s[k])) {
		return -1, -1
	}
	return at + 1, k
}

// scanRun looks for addresses in s[i:j], a maximal run of hex digits,
// colons and dots.
func scanRun(s string, i, j int, emit func(token)) {
	r := s[i:j]
	if strings.IndexByte(r, '.') < 0 && strings.IndexByte(r, ':') < 0 {
		return
	}
	if i > 0 && s[i-1] == '[' && j < len(s) && s[j] == ']' {
		if ip, err := netip.ParseAddr(r); err == nil && ip.Is6() {
			ps, pe := portAfter(s, j+1)
			emit(token{kind: tokIP, start: i, end: j, ip: ip, portStart: ps, portEnd: pe})
			return
		}
	}
	for end := j; end > i; {
		r := s[i:end]
		if ip, err := netip.ParseAddr(r); err == nil {
			if ip.Is4() {
				emit(token{kind: tokIP, start: i, end: end, ip: ip, portStart: -1, portEnd: -1})
				return
			}
			// An IPv6 form must not be glued to a word: "CNode::Close"
			// holds the valid address "e::c".
			if strings.Count(r, ":") >= 2 && (i == 0 || !isWordChar(s[i-1])) && (end == len(s) || !isWordChar(s[end])) {
				emit(token{kind: tokIP, start: i, end: end, ip: ip, portStart: -1, portEnd: -1})
				return
			}
			break
		}
		if k := strings.LastIndexByte(r, ':'); k > 0 && k+1 < len(r) && allDigits(r[k+1:]) {
			if ip, err := netip.ParseAddr(r[:k]); err == nil && ip.Is4() {
				emit(token{kind: tokIP, start: i, end: i + k, ip: ip, portStart: i + k + 1, portEnd: end})
				return
			}
		}
		if c := s[end-1]; c == '.' || c == ':' {
			end--
			continue
		}
		break
	}
	scanDottedQuads(s, i, j, emit)
}

// scanDottedQuads finds IPv4 dotted quads inside s[i:j] when the run as a
// whole is no address ("ab:1.2.3.4:8333", "a1.2.3.4").
func scanDottedQuads(s string, i, j int, emit func(token)) {
	for k := i; k < j; {
		if !isDigit(s[k]) || (k > i && (isDigit(s[k-1]) || (s[k-1] == '.' && k-1 > i && isDigit(s[k-2])))) {
			k++
			continue
		}
		// Parse a maximal sequence of dot-separated decimal numbers.
		parts, e := 0, k
		for {
			d := e
			for d < j && isDigit(s[d]) {
				d++
			}
			if d == e {
				break
			}
			parts++
			e = d
			if e+1 < j && s[e] == '.' && isDigit(s[e+1]) {
				e++
				continue
			}
			break
		}
		if parts == 4 {
			if ip, err := netip.ParseAddr(s[k:e]); err == nil && ip.Is4() {
				ps, pe := portAfter(s[:j], e)
				emit(token{kind: tokIP, start: k, end: e, ip: ip, portStart: ps, portEnd: pe})
				if pe > 0 {
					e = pe
				}
			}
		}
		k = max(e, k+1)
	}
}

// Text returns s with every address in it (see scanText) replaced by its
// pseudonym, and ports zeroed with ScrubPorts. s is returned unchanged,
// without allocation, when it holds no address.
func (a *Address) Text(s string) string {
	var b []byte
	last := 0
	scanText(s, func(t token) {
		host := s[t.start:t.end]
		repl := host
		switch t.kind {
		case tokIP:
			if p := a.IP(t.ip); p != t.ip {
				repl = p.String()
			}
		case tokOnion:
			repl = a.onionLabel(host[:len(host)-len(".onion")]) + ".onion"
		case tokI2P:
			repl = a.i2pLabel(host[:len(host)-len(".b32.i2p")]) + ".b32.i2p"
		}
		scrub := a.scrubPorts && t.portStart >= 0 && s[t.portStart:t.portEnd] != "0"
		if repl == host && !scrub {
			return
		}
		if b == nil {
			b = make([]byte, 0, len(s)+16)
		}
		b = append(b, s[last:t.start]...)
		b = append(b, repl...)
		last = t.end
		if scrub {
			b = append(b, s[last:t.portStart]...)
			b = append(b, '0')
			last = t.portEnd
		}
	})
	if b == nil {
		return s
	}
	b = append(b, s[last:]...)
	return string(b)
}
