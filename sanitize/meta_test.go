package sanitize

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

func TestMeta(t *testing.T) {
	in := &pb.SegmentMeta{
		FormatVersion:         1,
		Node:                  "honeypot-" + v4a,
		Implementation:        "Bitcoin Core",
		ImplementationVersion: "/Satoshi:29.0.0/",
		Network:               "mainnet",
		Source:                "nats nats://alice:s3cret@nats.internal.example:4222,nats://" + v4b + ":4222?token=x * from " + v6a,
		Recorder:              "peertape 0.1.0",
		CreatedMs:             ts0,
		Hostname:              "fra1.example.org",
		Previous:              "node-20260407T090713Z-0001.seg.zst",
		UpstreamFile:          "/home/alice/po.20260407-090713-000.bin.zst",
		RunId:                 "r1",
		Labels:                map[string]string{"host": "db1.example.org", "dc": "fra", "peer": "[" + v6b + "]:8333", "url": "http://localhost:8080/x"},
	}
	orig := proto.Clone(in).(*pb.SegmentMeta)
	s := newSanitizer(t, Options{TimeShift: -time.Hour, ScrubPorts: true, Self: []string{selfV4}})
	now := time.UnixMilli(ts0 + 5000)
	out := s.Meta(in, "peertape 0.1.0", now)
	if !proto.Equal(in, orig) {
		t.Fatal("Meta modified its input")
	}
	a := s.Address()
	for _, c := range []struct{ name, got, want string }{
		{"hostname", out.Hostname, ""},
		{"previous", out.Previous, ""},
		{"upstream_file", out.UpstreamFile, ""},
		{"node", out.Node, "honeypot-" + mustHost(t, a, v4a)},
		{"source", out.Source, "nats nats://" + s.hostName("nats.internal.example") + ":0,nats://" + mustHost(t, a, v4b) + ":0 * from " + mustHost(t, a, v6a)},
		{"label host", out.Labels["host"], s.hostName("db1.example.org")},
		{"label dc", out.Labels["dc"], "fra"},
		{"label peer", out.Labels["peer"], "[" + mustHost(t, a, v6b) + "]:0"},
		{"label url", out.Labels["url"], "http://localhost:0/x"},
		{"implementation_version", out.ImplementationVersion, "/Satoshi:29.0.0/"},
		{"run_id", out.RunId, "r1"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !strings.HasPrefix(s.hostName("db1.example.org"), "host-") || s.hostName("db1.example.org") == s.hostName("db2.example.org") {
		t.Errorf("host pseudonyms %s %s", s.hostName("db1.example.org"), s.hostName("db2.example.org"))
	}
	if out.CreatedMs != ts0-3600_000 {
		t.Errorf("created_ms %d", out.CreatedMs)
	}
	san := out.Sanitization
	if san.GetToolVersion() != "peertape 0.1.0" || san.GetKeyFingerprint() != s.Fingerprint() || san.GetSanitizedMs() != now.UnixMilli() ||
		san.GetTimeShiftMs() != -3600_000 || len(san.GetOptions()) == 0 {
		t.Errorf("sanitization %v", san)
	}
	// Nothing in the metadata reveals the key, a self address or a secret.
	raw, _ := proto.Marshal(out)
	k := testKey(t, 1)
	for _, secret := range []string{hex.EncodeToString(k.b[:]), string(k.b[:]), selfV4, "s3cret", "alice", "token", "example"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("metadata contains %q", secret)
		}
	}
	// A keyed shift is not recorded: publishing it would undo it.
	ks := newSanitizer(t, Options{KeyedTimeShift: true, DropPublicData: true})
	km := ks.Meta(nil, "v", now)
	if km.Sanitization.GetTimeShiftMs() != 0 || !km.LowData {
		t.Errorf("keyed: %v", km)
	}
}
