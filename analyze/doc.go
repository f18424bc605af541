// Package analyze turns an event stream into Prometheus metrics and an
// anomaly report. It is a pure function of the events and their event
// time: nothing in it reads the wall clock, so the same events give the
// same numbers whether they arrive live from NATS (peertape metrics) or
// from an archive at any replay speed (peertape replay --metrics-addr,
// --metrics-out, --openmetrics; peertape analyze).
//
// # The engine
//
// An Engine is an event.Sink. It decodes each event once (into one reused
// pb.Event) and hands it to every analyzer. It owns its own
// prometheus.Registry, never the global one: two engines fed the same
// events expose byte-identical text (WriteText) and OpenMetrics
// (WriteOpenMetrics). Process and Go runtime metrics are not part of it;
// a caller that wants them gathers them from a second registry (see
// HandlerOptions.Extra), so they never disturb the comparison.
//
// # Event time
//
// The engine keeps a watermark: the largest event time seen so far. When
// an event's time is earlier than the watermark (extractors stamp events
// with their own clocks, so arrival order can step backwards), the event
// is processed normally and counted in
// peertape_events_out_of_order_total. peertape's own analyzers time
// everything by the watermark, so a response time is never negative and a
// window never moves backwards; the peerobserver_* metrics use each
// event's own timestamp exactly where peer-observer does (address
// timestamp offsets, the age of closed connections).
//
// Rates are sums over trailing windows of event time, kept as rings of
// buckets (an hour as 60 one-minute buckets, a minute as 60 one-second
// buckets), evaluated at the watermark when metrics are collected. A
// sampler evaluates them at each interval boundary instead, without
// changing any state, so sampling never changes what is exposed
// afterwards.
//
// peer-observer's runtime_start_timestamp is the UNIX time (seconds) the
// metrics tool started. Here it is the event time of the first event the
// engine consumed, so that it, too, is the same live and on replay.
//
// # Memory
//
// Per-peer state (outstanding pings, the last feefilter, the peer's
// address) lives in one table keyed by node and peer id. A peer's entry is
// dropped when its connection closes. The table holds at most
// Limits.MaxPeers entries; past that the least recently active peer is
// evicted (its outstanding pings counted as unanswered with reason
// "evicted") and peertape_peer_state_evictions_total counts it. Each peer
// keeps at most Limits.MaxPingsPerPeer outstanding pings (the oldest is
// dropped, reason "overflow"), and pings older than Limits.PingTimeout
// are expired (reason "timeout"). The other bounded structures — recent
// transactions and blocks by announcing peer, the previous getrawaddrman
// and getorphantxs snapshots, the per-anomaly peer lists — have their own
// caps in Limits, with evictions counted the same way.
//
// # IP lists
//
// peer-observer compiles IP lists into its binary (Greg Maxwell's old ban
// list, the Monero ban list, Tor exit nodes, LinkingLion, bitprojects).
// peertape loads them from files (see ParseIPList for the format and
// LoadIPListDir for the file names). Without a file a list is empty: its
// metrics exist and stay 0.
//
// # Outputs
//
// WriteText writes the Prometheus text format, WriteOpenMetrics the
// OpenMetrics text format, Handler serves /metrics negotiating between
// them, and a Sampler writes every metric at each interval boundary of
// event time, with timestamps, into an OpenMetrics file that
// `promtool tsdb create-blocks-from openmetrics` turns into TSDB blocks.
// The anomaly detectors feed Report.
package analyze
