package analyze

import (
	"github.com/peertape/peertape/proto/pb"
)

// peerKey identifies a peer: Core's peer ids are per node, so the node is
// part of the key (as an index into the engine's node names).
type peerKey struct {
	node uint32
	id   uint64
}

// pendingPing is an inbound ping waiting for the node's pong.
type pendingPing struct {
	nonce uint64
	at    int64 // watermark when the ping arrived, ms
}

// peerState is what the analyzers remember about one peer. It lives in the
// peerTable, most recently active first.
type peerState struct {
	key      peerKey
	addr     string
	connType pb.ConnType
	pings    []pendingPing // oldest first
	fee      [2]int64      // last feefilter by direction (0 outbound, 1 inbound)
	feeSet   [2]bool

	prev, next *peerState
}

// peerTable is a map of peer state with least-recently-used eviction: at
// most max entries; inserting one more evicts the peer that was active
// longest ago and calls onEvict for it first. Iteration order never
// matters to what the analyzers expose (they only take counts, sums,
// minima and maxima over it), so the map's random order is harmless.
type peerTable struct {
	max        int
	m          map[peerKey]*peerState
	head, tail *peerState // head: most recent
	onEvict    func(ps *peerState)
	onRemove   func(ps *peerState)
	evictions  uint64
}

func newPeerTable(max int) *peerTable {
	return &peerTable{max: max, m: make(map[peerKey]*peerState)}
}

func (t *peerTable) unlink(ps *peerState) {
	if ps.prev != nil {
		ps.prev.next = ps.next
	} else {
		t.head = ps.next
	}
	if ps.next != nil {
		ps.next.prev = ps.prev
	} else {
		t.tail = ps.prev
	}
	ps.prev, ps.next = nil, nil
}

func (t *peerTable) pushFront(ps *peerState) {
	ps.next = t.head
	if t.head != nil {
		t.head.prev = ps
	}
	t.head = ps
	if t.tail == nil {
		t.tail = ps
	}
}

// get returns the peer's state, creating it (and evicting the least
// recently active peer if the table is full), and marks it active.
func (t *peerTable) get(k peerKey) *peerState {
	if ps := t.m[k]; ps != nil {
		if t.head != ps {
			t.unlink(ps)
			t.pushFront(ps)
		}
		return ps
	}
	if len(t.m) >= t.max && t.tail != nil {
		old := t.tail
		if t.onEvict != nil {
			t.onEvict(old)
		}
		t.unlink(old)
		delete(t.m, old.key)
		t.evictions++
	}
	ps := &peerState{key: k}
	t.m[k] = ps
	t.pushFront(ps)
	return ps
}

// lookup returns the peer's state without creating or touching it.
func (t *peerTable) lookup(k peerKey) *peerState { return t.m[k] }

// remove drops the peer's state (its connection closed).
func (t *peerTable) remove(k peerKey) {
	ps := t.m[k]
	if ps == nil {
		return
	}
	if t.onRemove != nil {
		t.onRemove(ps)
	}
	t.unlink(ps)
	delete(t.m, k)
}

func (t *peerTable) len() int { return len(t.m) }

// boundedMap remembers up to max keys in insertion order, dropping the
// oldest beyond that: recent transactions and blocks and who sent them.
type boundedMap[K comparable, V any] struct {
	max       int
	m         map[K]V
	ring      []K
	next      int
	evictions uint64
}

func newBoundedMap[K comparable, V any](max int) *boundedMap[K, V] {
	return &boundedMap[K, V]{max: max, m: make(map[K]V, min(max, 1024)), ring: make([]K, 0, min(max, 1024))}
}

// put stores v for k; a new key may evict the oldest one.
func (b *boundedMap[K, V]) put(k K, v V) {
	if _, ok := b.m[k]; ok {
		b.m[k] = v
		return
	}
	if len(b.ring) < b.max {
		b.ring = append(b.ring, k)
	} else {
		old := b.ring[b.next]
		if _, ok := b.m[old]; ok {
			delete(b.m, old)
			b.evictions++
		}
		b.ring[b.next] = k
		b.next = (b.next + 1) % b.max
	}
	b.m[k] = v
}

func (b *boundedMap[K, V]) get(k K) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

func (b *boundedMap[K, V]) len() int { return len(b.m) }
