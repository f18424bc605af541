// Package synth generates deterministic event streams shaped like those
// peer-observer's extractors publish for a busy mainnet node, for demos,
// tests, fixtures and benchmarks.
//
// A Generator is an event.Source: Run emits events in event-time order
// (milliseconds, never decreasing) into a sink. The same Options give
// byte-identical events; every event has all proto2 required fields and is
// the canonical (deterministic) protobuf encoding of its message, so it
// decodes cleanly in peer-observer's Rust tools.
//
// # The simulated node
//
// A Bitcoin Core 29.1 honeynode ("/Satoshi:29.1.0/", services
// NETWORK|WITNESS|NETWORK_LIMITED|P2P_V2) that has been up for 12 days,
// with the eBPF, RPC, p2p and log extractors attached. It runs with
// -debug=net,mempool,mempoolrej,validation,cmpctblock,txpackages,addrman,
// bench,estimatefee,rpc,coindb,leveldb, so its debug.log has a line for
// every P2P message sent and received and for every transaction inventory
// item received ("got inv: wtx … new peer=…"): these lines are most of the
// events, as they are on such a node.
//
// It is a discrete-event simulation; each subsystem draws from its own
// random stream, so an anomaly does not shift, say, the block times.
//
//   - Connections: 125 slots. 8 outbound-full-relay and 2 block-relay-only
//     peers, an extra block-relay-only peer every 5 minutes, a feeler every
//     2 minutes (half fail to connect); about 112 inbound: relaying full
//     nodes (Core 22–30, Knots, btcd user agents, 12% on Tor through
//     127.0.0.1, some IPv6, I2P, CJDNS), block-relay-only and SPV peers,
//     long-lived spy nodes from a few /24s with old agents, and a constant
//     churn of short-lived spy/crawler connections (most never send a
//     version and leave within a second). When the inbound slots are full,
//     each new connection evicts the youngest member of the largest
//     network group (inbound_evicted, then closed). Connection events carry
//     Core's Network enum and the ConnType peer-observer derives (feelers
//     appear as OutboundFullRelay, the p2p-extractor's manual connection
//     as Unknown). Handshakes follow Core: version, wtxidrelay, sendaddrv2
//     and verack both ways, then sendcmpct, ping, feefilter, getheaders,
//     getaddr; 15% of modern inbound nodes send sendtxrcncl, which the
//     extractor reports as an Unknown message with its 12-byte payload.
//     About every 20 minutes a peer sends invalid headers (or an
//     out-of-bounds getblocktxn), is reported misbehaving and disconnected.
//   - Transactions: new transactions reach the network around the node at
//     a Poisson rate, built from mainnet-like templates (P2WPKH, P2TR,
//     P2PKH, P2SH-P2WPKH, 2-of-3 P2WSH, consolidations, batch payouts,
//     coinjoins, BRC-20 inscriptions, runestones): real consensus
//     serialization with random signatures, keys and hashes, structured
//     versions, sequences, locktimes and scripts; txid and wtxid are their
//     double SHA-256. Peers hear of each one after a per-peer delay, fetch
//     it, and announce it at their Poisson trickle times (2 s towards an
//     outbound peer, 5 s towards an inbound one); the node requests it
//     once (at once from outbound peers, after 2 s from inbound ones),
//     accepts it, and announces it to every peer that did not announce it
//     first (inbound peers share one trickle timer; at most 35 per inv,
//     highest feerate first, the rest queued: inv_to_send). A peer asks
//     the node for a transaction only if the node's inv reached it before
//     it heard of it elsewhere, about twice per transaction. So each wtxid
//     appears in 50–100 inv entries over several seconds. 2.5% are
//     rejected (Core's reasons), 3% replace a mempool transaction (BIP125:
//     replaced, removed "replaced", added), 0.8% arrive before their parent
//     (orphan, parent fetched by txid). Rarely a request is answered with
//     notfound.
//   - Mempool: the transactions of the stream plus a background of about
//     40,000 older ones known only by count and size. Removals: "block",
//     "conflict" (at blocks), "replaced", "expiry" (background
//     transactions older than two weeks, every few minutes) and
//     "sizelimit" (eviction bursts about every 90 minutes, which raise the
//     rolling minimum fee; it then decays with Core's 12-hour half-life and
//     changes the feefilter the node sends). getmempoolinfo always equals
//     the sum of added minus removed events. The orphanage holds at most
//     100 (Core 29) and expires entries after 20 minutes.
//   - Blocks: found at Poisson times (mean 10 minutes). The block reaches
//     the node as a cmpctblock from a high-bandwidth peer; transactions the
//     node never saw are fetched with getblocktxn/blocktxn; it is
//     announced to high-bandwidth peers before validation, connected
//     (block_connected with connection_time in ns, BlockChecked "Valid",
//     one removed event per included transaction, UpdateTip, BlockConnected
//     and bench lines), then announced with headers or inv to peers that
//     have not announced it, some of which ask for a cmpctblock
//     (getdata MSG_CMPCT_BLOCK) or, a quarter of the time, the full block.
//     Heights continue mainnet's (about 939,400 at the default start).
//   - Pings: Core pings every peer every 2 minutes and Core peers ping the
//     node; pongs echo the nonce on the same peer after the round trip
//     (outbound pings) or after the node's processing delay (inbound
//     pings; normally under a millisecond). Some spies use small or zero
//     nonces, or nonce-less pings (oldping).
//   - Addresses: an addrman of about 2,100 entries (a tenth of mainnet's,
//     to keep getrawaddrman modest), 55% IPv4, 17% IPv6, 20% Tor v3, 5%
//     I2P, 3% CJDNS. Peers gossip one or two fresh addresses about every
//     2 s in total; the node forwards each to two peers on their 30 s addr
//     timers, self-announces to new peers, answers getaddr from a cached
//     response (the same ~500 entries for a day; legacy addr with the
//     IPv4/IPv6 subset for peers without addrv2), and outbound peers answer
//     its getaddr with up to 1,000 entries. Addresses in addr/addrv2 are
//     rendered as peer-observer's extractor does (Tor v3 as 52 base32
//     characters), peer addresses as Core prints them (56-character onion
//     with checksum, bracketed IPv6, I2P port 0).
//   - RPC extractor: every 10 s getpeerinfo (one PeerInfo per open
//     connection, with its real byte counters, ping times, feefilter and
//     inv_to_send), getmempoolinfo, uptime, getnettotals, getmemoryinfo,
//     getaddrmaninfo, getnetworkinfo, getorphantxs; every 120 s
//     getchaintxstats, getblockchaininfo and getrawaddrman. The calls run
//     one after the other, each result emitted when its call returns
//     (1–10 ms, getrawaddrman 40–80 ms), each preceded by the node's
//     "ThreadRPCServer method=…" line.
//   - p2p-extractor: a manual connection (127.0.0.1:9333) that pings every
//     10 s with its send time in ns as nonce and reports PingDuration when
//     the node's pong arrives; the node's inv, addrv2 and feefilter
//     messages to it are also reported as p2p-extractor announcements.
//
// # Timing between extractors
//
// Event times come from one clock and never decrease. Cross-extractor
// latency is modelled as delay, not as disorder: a log line's event is
// emitted in the millisecond it is written (its own log_timestamp, in µs,
// is up to 0.3 ms earlier and never decreases); RPC results follow their
// poll by the call's latency; the p2p-extractor's PingDuration follows the
// pong by up to 0.1 ms.
//
// # Rate
//
// Options.Rate is the baseline event rate. A controller adjusts the
// simulation's activity every 10 s of event time so that the count of
// baseline events meets Rate × elapsed a minute later; activity scales
// the transaction arrival rate (16 tx/s at activity 1) and the spy
// connection churn (7/s at activity 1). Periodic traffic (pings, polls,
// gossip, blocks) does not scale, which puts the floor at about 50
// events/s. At the default 1,300 events/s the stream has about 17
// transactions/s and 8 spy connections/s, and per event kind roughly:
// log 85%, netmsg 12% (inv 4.6%, tx 3.5%, getdata 1.6%), mempool 2.3%,
// netconn 1.3%, rpc and p2p under 0.1% each, about 175 bytes per event.
// Events injected by anomalies are not counted by the controller: they
// come on top.
//
// # Anomalies
//
// Options.Anomalies injects disturbances at an offset for a duration
// (KIND@OFFSET[:DURATION]; see ParseAnomaly). Each is absent from the
// stream otherwise; Stats.Injected reports the window, the peers involved
// and how many occurrences were injected.
//
//   - ping-backlog (default 5m): the node's processing delay grows: it
//     ramps up over the first 40% of the window to 8 s, holds, and ramps
//     down over the last 20%. It delays the node's pongs to inbound pings
//     (Core peers' and the p2p-extractor's), so inbound-ping → outbound-pong
//     delays (normally under 0.2 s) and p2p-extractor PingDuration
//     (normally under 0.2 ms) reach 8 s; it also delays the node's answers
//     to getdata and the ping times in getpeerinfo. No events are added.
//   - inbound-flood (default 2m): inbound connections from one /24 chosen
//     by the seed (Injected.Subnet), at max(40/s, 15 × the spy churn),
//     60% completing the handshake, each closed after about 1.5 s; once
//     the slots are full every one evicts another. Baseline: no /24 sees
//     more than about 0.25 connections/s.
//   - misbehaving (default 2m): 1.5 connections/s from eight addresses
//     complete the handshake, then send invalid headers, non-continuous
//     headers or an out-of-bounds getblocktxn: a misbehaving event with
//     Core's message, then closed. Baseline: one every 20 minutes.
//   - mutated-block (default 2m): every 20 s one inbound peer sends a
//     block message with the tip's header and its coinbase plus one or two
//     transactions, followed by the log lines "received block … peer=…"
//     and BlockChecked with state bad-txnmrklroot ("hashMerkleRoot
//     mismatch"), alternating with bad-witness-nonce-size
//     ("CheckWitnessMalleation : invalid witness reserved value size",
//     the coinbase's witness reserved value being 33 bytes). Baseline:
//     every BlockChecked is "Valid".
//   - orphan-flood (default 5m): five orphans a second, each announced by
//     5–15 relaying peers; each is fetched, rejected with
//     bad-txns-inputs-missingorspent (as Core reports missing inputs),
//     stored ("stored orphan tx" lines), its parent requested by txid and
//     answered with notfound. getorphantxs grows from under 20 orphans
//     with one or two announcers to the limit of 100 with up to 15, then
//     "orphanage overflow" evictions; the orphans expire 20 minutes later.
//   - reject-spike (default 2m): three relaying peers announce
//     transactions the node fetches and rejects, 25 a second (scaled up
//     above activity 1), with reasons "min relay fee not met", "dust",
//     "scriptpubkey" and "non-mandatory-script-verify-flag (Signature must
//     be zero for failed CHECK(MULTI)SIG operation)". Baseline: 2.5% of
//     transactions, about 0.4 rejections/s at the default rate. Note that
//     an orphan-flood also raises rejections, all with reason
//     bad-txns-inputs-missingorspent.
//
// # Where the model departs from mainnet
//
// Block hashes have mainnet's 79 leading zero bits but are not the hash of
// their headers (nothing is mined); merkle roots and compact block short
// ids are random; background mempool removals (expiry, sizelimit) name
// transactions the stream never showed; the addrman is a tenth of
// mainnet's; transaction and spy churn rates are about twice mainnet's at
// the default rate, because the debug.log volume per transaction is what
// makes up 1,300 events/s.
package synth
