package sanitize

import (
	"encoding/hex"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// Meta returns the sanitized copy of segment metadata m (m is not
// modified):
//   - hostname is removed, and so are upstream_file and previous (file
//     names can carry host names and unshifted times; a writer sets
//     previous anew);
//   - in source and labels, URLs lose their user information and query,
//     their hosts become pseudonyms ("host-" and 8 hex digits for names,
//     the address pseudonym for IP literals; "localhost" stays), and every
//     address in the remaining text is replaced; label keys "host",
//     "hostname" and "fqdn" get a host pseudonym as their value;
//   - node and implementation_version have their addresses replaced, as
//     Event does for Node;
//   - created_ms moves by the time shift; low_data is set when public
//     data is dropped;
//   - sanitization records toolVersion, the key fingerprint (never the
//     key), Options.Flags, now, and time_shift_ms when the shift was given
//     (a keyed shift is not recorded, since publishing it would undo it).
func (s *Sanitizer) Meta(m *pb.SegmentMeta, toolVersion string, now time.Time) *pb.SegmentMeta {
	out := new(pb.SegmentMeta)
	if m != nil {
		out = proto.Clone(m).(*pb.SegmentMeta)
	}
	out.Hostname = ""
	out.UpstreamFile = ""
	out.Previous = ""
	out.Node = s.addr.Text(out.Node)
	out.ImplementationVersion = s.addr.Text(out.ImplementationVersion)
	out.Source = s.freeText(out.Source)
	if len(out.Labels) > 0 {
		labels := make(map[string]string, len(out.Labels))
		for k, v := range out.Labels {
			switch strings.ToLower(k) {
			case "host", "hostname", "fqdn":
				v = s.hostName(v)
			default:
				v = s.freeText(v)
			}
			labels[s.addr.Text(k)] = v
		}
		out.Labels = labels
	}
	if out.CreatedMs != 0 {
		out.CreatedMs += s.shiftMs
	}
	out.LowData = out.LowData || s.opts.DropPublicData
	san := &pb.Sanitization{
		ToolVersion:    toolVersion,
		KeyFingerprint: s.key.Fingerprint(),
		Options:        s.opts.Flags(),
		SanitizedMs:    now.UnixMilli(),
	}
	if !s.opts.KeyedTimeShift {
		san.TimeShiftMs = s.shiftMs
	}
	out.Sanitization = san
	return out
}

// freeText sanitizes metadata text: URLs (also comma-separated lists of
// them, as NATS takes) token by token, addresses everywhere.
func (s *Sanitizer) freeText(t string) string {
	if !strings.Contains(t, "://") {
		return s.addr.Text(t)
	}
	fields := strings.Split(t, " ")
	for i, f := range fields {
		if !strings.Contains(f, "://") {
			fields[i] = s.addr.Text(f)
			continue
		}
		parts := strings.Split(f, ",")
		for j, p := range parts {
			parts[j] = s.url(p)
		}
		fields[i] = strings.Join(parts, ",")
	}
	return strings.Join(fields, " ")
}

func (s *Sanitizer) url(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return s.addr.Text(raw)
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		host = s.addr.IP(ip).String()
	} else if h, ok := s.addr.Host(host); ok {
		host = h
	} else {
		host = s.hostName(host)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" {
		host += ":" + s.addr.portText(p)
	}
	out := url.URL{Scheme: u.Scheme, Host: host, Path: s.addr.Text(u.Path)}
	return out.String()
}

// hostName returns a keyed pseudonym for a host name: "host-" and 8 hex
// digits. "localhost" and empty names stay; addresses get address
// pseudonyms.
func (s *Sanitizer) hostName(name string) string {
	if name == "" || strings.EqualFold(name, "localhost") {
		return name
	}
	if h, ok := s.addr.Host(name); ok {
		return h
	}
	return "host-" + hex.EncodeToString(keyed(s.addr.labelKey, []byte("hostname\x00"), []byte(strings.ToLower(name)))[:4])
}
