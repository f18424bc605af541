package synth

import (
	"slices"
	"testing"
	"time"
)

// The streams of the different extractors tell one story: pongs answer
// pings, getpeerinfo lists the open connections, getmempoolinfo follows
// the mempool events, log lines follow the blocks.
func TestConsistency(t *testing.T) {
	evs, msgs, _ := run(t, Options{Duration: 25 * time.Minute, Rate: 400, Seed: 13})
	type key struct{ peer, nonce uint64 }
	pingsIn, pingsOut := map[key]int64{}, map[key]int64{}
	var pongsUnmatched, pongs int
	open := map[uint64]bool{}   // connected during the stream, not yet closed
	closed := map[uint64]bool{} // closed during the stream
	lastMempool := int64(-1)
	var added, removed int64
	var infos, blocks, blockLogs int
	var lastHeight int32
	connectedHash := map[string]bool{}
	for i, ev := range evs {
		m := msgs[i]
		e := m.GetEbpfExtractor()
		if me := e.GetMessage(); me != nil {
			meta := me.GetMeta()
			id := meta.GetPeerId()
			if closed[id] {
				t.Fatalf("event %d: %s with peer %d after it was closed", i, meta.GetCommand(), id)
			}
			switch {
			case me.GetPing() != nil && meta.GetInbound():
				pingsIn[key{id, me.GetPing().GetValue()}] = ev.Time
			case me.GetPing() != nil:
				pingsOut[key{id, me.GetPing().GetValue()}] = ev.Time
			case me.GetPong() != nil:
				pongs++
				k := key{id, me.GetPong().GetValue()}
				src := pingsOut
				if !meta.GetInbound() {
					src = pingsIn
				}
				if t0, ok := src[k]; !ok || t0 > ev.Time {
					pongsUnmatched++
				}
			}
		}
		if c := e.GetConnection(); c != nil {
			switch {
			case c.GetInbound() != nil:
				open[c.GetInbound().GetConn().GetPeerId()] = true
			case c.GetOutbound() != nil:
				open[c.GetOutbound().GetConn().GetPeerId()] = true
			case c.GetClosed() != nil:
				id := c.GetClosed().GetConn().GetPeerId()
				if closed[id] {
					t.Fatalf("peer %d closed twice", id)
				}
				delete(open, id)
				closed[id] = true
				if est := int64(c.GetClosed().GetTimeEstablished()); est > ev.Time/1000 || est < ev.Time/1000-30*86400 {
					t.Fatalf("peer %d established at %d, closed at %d ms", id, est, ev.Time)
				}
			}
		}
		if pi := m.GetRpcExtractor().GetPeerInfos(); pi != nil {
			infos++
			listed := map[uint64]bool{}
			in := 0
			for _, p := range pi.GetInfos() {
				id := uint64(p.GetId())
				if closed[id] {
					t.Fatalf("getpeerinfo lists closed peer %d", id)
				}
				listed[id] = true
				if p.GetInbound() {
					in++
				}
				if p.GetConnectionType() == "inbound" != p.GetInbound() {
					t.Fatalf("peer %d: connection_type %q, inbound %v", id, p.GetConnectionType(), p.GetInbound())
				}
			}
			for id := range open {
				if !listed[id] {
					t.Fatalf("getpeerinfo misses open peer %d", id)
				}
			}
			if n := len(pi.GetInfos()); n < 100 || n > 140 || in > maxInbound+2 {
				t.Fatalf("getpeerinfo with %d peers, %d inbound", n, in)
			}
		}
		if mp := e.GetMempool(); mp != nil {
			switch {
			case mp.GetAdded() != nil:
				added++
			case mp.GetRemoved() != nil:
				removed++
			}
		}
		if mi := m.GetRpcExtractor().GetMempoolInfo(); mi != nil {
			if lastMempool >= 0 && mi.GetSize()-lastMempool != added-removed {
				t.Fatalf("getmempoolinfo size went from %d to %d, events say %+d", lastMempool, mi.GetSize(), added-removed)
			}
			lastMempool, added, removed = mi.GetSize(), 0, 0
			if mi.GetMempoolminfee() < mi.GetMinrelaytxfee() || mi.GetBytes() <= 0 || mi.GetUsage() < mi.GetBytes() {
				t.Fatalf("getmempoolinfo %v", mi)
			}
		}
		if bc := e.GetValidation().GetBlockConnected(); bc != nil {
			blocks++
			if lastHeight != 0 && bc.GetHeight() != lastHeight+1 {
				t.Fatalf("block at height %d after %d", bc.GetHeight(), lastHeight)
			}
			lastHeight = bc.GetHeight()
			if ns := bc.GetConnectionTime(); ns < 1e6 || ns > 10e9 {
				t.Fatalf("connection time %d ns", ns)
			}
			connectedHash[hexRev([32]byte(bc.GetHash()))] = true
		}
		if l := m.GetLogExtractor(); l != nil {
			if b := l.GetBlockConnectedLog(); b != nil {
				blockLogs++
				if !connectedHash[b.GetBlockHash()] || uint32(lastHeight) != b.GetBlockHeight() {
					t.Fatalf("BlockConnected log for %s at %d before its block_connected event", b.GetBlockHash(), b.GetBlockHeight())
				}
			}
			if b := l.GetBlockCheckedLog(); b != nil && (!connectedHash[b.GetBlockHash()] || b.GetState() != "Valid") {
				t.Fatalf("BlockChecked %v", b)
			}
		}
	}
	if pongs == 0 || pongsUnmatched != 0 {
		t.Errorf("%d pongs, %d without an earlier ping with the same nonce on the same peer", pongs, pongsUnmatched)
	}
	if infos != 25*6 {
		t.Errorf("%d getpeerinfo polls", infos)
	}
	if blocks == 0 || blockLogs != 2*blocks {
		t.Errorf("%d blocks, %d BlockConnected lines (Enqueuing and callback)", blocks, blockLogs)
	}
	if len(closed) == 0 {
		t.Error("no connection closed")
	}
}

// Transactions are announced by many peers over seconds: the same wtxid
// comes back in inv messages at realistic distances.
func TestAnnouncementsRepeat(t *testing.T) {
	evs, msgs, _ := run(t, Options{Duration: 6 * time.Minute, Rate: DefaultRate, Seed: 17})
	first := map[[32]byte]int64{}
	count := map[[32]byte]int{}
	var spread []int64
	for i, ev := range evs {
		inv := msgs[i].GetEbpfExtractor().GetMessage().GetInv()
		for _, it := range inv.GetItems() {
			w := it.GetWtx()
			if w == nil {
				continue
			}
			h := [32]byte(w)
			if _, ok := first[h]; !ok {
				first[h] = ev.Time
			}
			count[h]++
			if count[h] == 20 {
				spread = append(spread, ev.Time-first[h])
			}
		}
	}
	var total int
	for _, c := range count {
		total += c
	}
	mean := float64(total) / float64(len(count))
	slices.Sort(spread)
	if mean < 40 || mean > 130 || len(spread) == 0 {
		t.Fatalf("each wtxid in %.1f invs on average (%d with 20 or more)", mean, len(spread))
	}
	if med := spread[len(spread)/2]; med < 1000 || med > 20_000 {
		t.Fatalf("median time to the 20th announcement %d ms", med)
	}
	t.Logf("%d txs, %.1f inv entries each, median %d ms to the 20th", len(count), mean, spread[len(spread)/2])
}
