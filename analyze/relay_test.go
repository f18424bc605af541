package analyze

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

func addrv2Msg(t testing.TB, ms int64, p peer, inbound bool, n int) event.Event {
	addrs := make([]*pb.Address, n)
	for i := range addrs {
		addrs[i] = ipv4Addr("192.0.2.1", uint32(ms/1000), 1)
	}
	return msg(t, ms, p, "addrv2", inbound, uint64(1+20*n), func(m *pb.MessageEvent) {
		m.Msg = &pb.MessageEvent_Addrv2{Addrv2: &pb.AddrV2{Addresses: addrs}}
	})
}

func TestAddrRelayRates(t *testing.T) {
	e := newEngine(t, Options{})
	feed(t, e,
		addrv2Msg(t, T0, pIn, true, 10),
		addrv2Msg(t, T0+10*60_000, pOut, true, 2),
		addrv2Msg(t, T0+20*60_000, pIn, false, 1),
		msg(t, T0+20*60_000, pIn, "addr", true, 0, func(m *pb.MessageEvent) { m.Msg = &pb.MessageEvent_Addr{Addr: &pb.Addr{}} }),
	)
	check(t, scrape(t, e),
		w("peertape_addr_relay_addresses_per_hour", 12, "direction=inbound", "message=addrv2"),
		w("peertape_addr_relay_messages_per_hour", 2, "direction=inbound", "message=addrv2"),
		w("peertape_addr_relay_addresses_per_message", 6, "direction=inbound", "message=addrv2"),
		w("peertape_addr_relay_addresses_per_hour", 1, "direction=outbound", "message=addrv2"),
		w("peertape_addr_relay_addresses_per_message", 0, "direction=inbound", "message=addr"),
	)
	// 65 minutes after the first: it left the window, the second did not.
	feed(t, e, ping(t, T0+65*60_000, pBRO, true, 1))
	check(t, scrape(t, e),
		w("peertape_addr_relay_addresses_per_hour", 2, "direction=inbound", "message=addrv2"),
		w("peertape_addr_relay_messages_per_hour", 1, "direction=inbound", "message=addrv2"),
	)
	// Two hours on, everything has left.
	feed(t, e, ping(t, T0+3*3600_000, pBRO, true, 2))
	check(t, scrape(t, e), w("peertape_addr_relay_addresses_per_hour", 0, "direction=inbound", "message=addrv2"))
}

func TestInvRatesAndFeefilterChanges(t *testing.T) {
	e := newEngine(t, Options{})
	var evs []event.Event
	for i := range 30 {
		evs = append(evs, invMsg(t, T0+int64(i)*1000, pIn, true, wtx(1), wtx(2), txItem(3)))
	}
	fee := func(ms int64, p peer, inbound bool, v int64) event.Event {
		return msg(t, ms, p, "feefilter", inbound, 8, func(m *pb.MessageEvent) {
			m.Msg = &pb.MessageEvent_Feefilter{Feefilter: &pb.FeeFilter{Fee: proto.Int64(v)}}
		})
	}
	evs = append(evs,
		fee(T0, pIn, true, 1000),
		fee(T0+1, pIn, true, 1000),  // same: no change
		fee(T0+2, pIn, true, 5000),  // change
		fee(T0+3, pIn, false, 1000), // our first to that peer: no change
		fee(T0+4, pOut, true, 2000), // another peer's first: no change
		fee(T0+5, pIn, false, 3000), // change, outbound
	)
	feed(t, e, evs...)
	check(t, scrape(t, e),
		w("peertape_inv_messages_per_second", 0.5, "direction=inbound"),
		w("peertape_inv_entries_per_second", 1, "direction=inbound", "inv_type=WTx"),
		w("peertape_inv_entries_per_second", 0.5, "direction=inbound", "inv_type=Tx"),
		w("peertape_inv_entries_per_message", 3, "direction=inbound"),
		w("peertape_feefilter_changes_total", 1, "direction=inbound"),
		w("peertape_feefilter_changes_total", 1, "direction=outbound"),
	)
	// A minute after the last INV the rates are back to 0.
	feed(t, e, ping(t, T0+29_000+61_000, pBRO, true, 1))
	check(t, scrape(t, e), w("peertape_inv_messages_per_second", 0, "direction=inbound"))
}

func TestP2PExtractorRelay(t *testing.T) {
	e := newEngine(t, Options{})
	ann := func(ms int64, n int) event.Event {
		addrs := make([]*pb.Address, n)
		for i := range addrs {
			addrs[i] = ipv4Addr("192.0.2.1", 0, 1)
		}
		return mk(t, ms, "", p2pEv(&pb.P2P{P2PEvent: &pb.P2P_AddressAnnouncement{AddressAnnouncement: &pb.AddressAnnouncement{Addresses: addrs}}}))
	}
	inv := func(ms int64, items ...*pb.InventoryItem) event.Event {
		return mk(t, ms, "", p2pEv(&pb.P2P{P2PEvent: &pb.P2P_InventoryAnnouncement{InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: items}}}))
	}
	feed(t, e, ann(T0, 1), ann(T0+1000, 3), inv(T0, wtx(1), wtx(2)), inv(T0+1, wtx(3)))
	check(t, scrape(t, e),
		w("peertape_p2pextractor_addrv2relay_addresses_per_hour", 4),
		w("peertape_p2pextractor_addrv2relay_addresses_per_message", 2),
		w("peertape_p2pextractor_inv_size_entries", 2),
		w("peertape_p2pextractor_inv_entries_per_second", 0.05, "inv_type=WTx"),
	)
}
