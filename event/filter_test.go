package event

import "testing"

func TestFilterMatchAndPassesAll(t *testing.T) {
	cases := []struct {
		only, exclude []string
		ev            Event
		match         bool
		kind          Kind
		types         map[string]uint64
		all           bool
	}{
		{nil, nil, Event{Kind: NetMsg, Type: "inv"}, true, NetMsg, map[string]uint64{"inv": 1, "tx": 2}, true},
		{[]string{"netmsg"}, nil, Event{Kind: RPC}, false, NetMsg, nil, true},
		{[]string{"netmsg:inv"}, nil, Event{Kind: NetMsg, Type: "tx"}, false, NetMsg, map[string]uint64{"inv": 1}, true},
		{[]string{"netmsg:inv"}, nil, Event{Kind: NetMsg, Type: "inv"}, true, NetMsg, map[string]uint64{"inv": 1, "tx": 1}, false},
		{nil, []string{"netconn:inbound"}, Event{Kind: NetConn, Type: "inbound"}, false, NetConn, nil, false},
		{nil, []string{"netconn:inbound"}, Event{Kind: NetConn, Type: "closed"}, true, Mempool, nil, true},
		{[]string{"rpc", "log"}, []string{"rpc:uptime"}, Event{Kind: RPC, Type: "uptime"}, false, Log, nil, true},
		{[]string{"p2p-extractor"}, nil, Event{Kind: P2P, Type: "ping_duration"}, true, P2P, nil, true},
	}
	for i, c := range cases {
		f, err := NewFilter(c.only, c.exclude)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(c.ev); got != c.match {
			t.Errorf("case %d: Match(%s) = %v, want %v", i, c.ev.Selector(), got, c.match)
		}
		if got := f.PassesAll(c.kind, c.types); got != c.all {
			t.Errorf("case %d: PassesAll(%s, %v) = %v, want %v", i, c.kind, c.types, got, c.all)
		}
	}
	if _, err := NewFilter([]string{"bogus"}, nil); err == nil {
		t.Error("unknown kind accepted")
	}
}
