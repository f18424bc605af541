// Package sanitize makes peer-observer events safe to publish: every
// network address is replaced by a keyed pseudonym, the node's own
// addresses by a fixed placeholder, and event times can be shifted.
//
// # Guarantees
//
// IPv4 and IPv6 addresses are pseudonymized with a prefix-preserving
// permutation of the Crypto-PAn family (AES-128, one block per address
// bit): two addresses sharing an n-bit prefix share an n-bit prefix after,
// the mapping is a bijection (no two addresses collide), it is the same in
// every run with the same key and unrelated under another key. Four
// addresses are fixed points because they identify nobody and analyses
// rely on them: 0.0.0.0, 127.0.0.1, :: and ::1 (in IPv4 by cycle walking,
// which costs the two addresses whose image would be a fixed point their
// prefix preservation). IPv6 keeps its structural prefixes: IPv4-mapped
// IPv6 (::ffff:0:0/96) maps to the IPv4-mapped form of the IPv4
// pseudonym, CJDNS stays in fc00::/8 and OnionCat (fd87:d87e:eb43::/48,
// legacy Tor v2) maps to the OnionCat form of the Tor v2 pseudonym; no
// other address lands in those ranges. The price of these fixed paths is
// that a global IPv6 address keeps its 2000::/3, which everyone knows.
//
// Tor v2 and v3 and I2P addresses get keyed pseudonyms of the same form
// and length (a v3 pseudonym carries a valid checksum), computed with
// HMAC-SHA256: collisions are possible only with probability about
// 2^-80 per pair (Tor v2) or smaller. Addresses of unknown BIP155 networks
// get keyed bytes of the same length.
//
// The node's own addresses (Options.Self, and those reported by
// getnetworkinfo local_addresses as they are seen) become the placeholders
// in SelfIPv4, SelfIPv6, SelfCJDNS, SelfTorV2, SelfTorV3 and SelfI2P.
// Ports are kept unless Options.ScrubPorts sets them to 0.
//
// # What is rewritten
//
// Sanitizer.Event rewrites: P2P message metadata addr and connection addr
// (host:port strings); version receiver, sender and timestamp; addr and
// addrv2 entries of every arm; unknown messages whose command is addr,
// addrv2 or version (the raw payload is parsed and rewritten, and dropped
// when it does not parse), and the payload of every other unknown command
// unless Options.KeepUnknownPayloads; getpeerinfo address, address_bind,
// address_local; getnetworkinfo local_addresses and proxies;
// getrawaddrman entries and sources; addrman tracepoint addr and source;
// p2p-extractor address announcements; and every IPv4, IPv6, onion and
// I2P text form inside free text (debug.log messages, thread names,
// misbehaving reasons, reject details, user agents, warnings, mempool
// reasons, block-check messages).
//
// Unknown protobuf fields (from extractors newer than this build) are
// copied byte-exactly and not inspected: run the leak checker
// (AddressSet.Check) on the output, which does scan them. Stats counts
// them; Options.DropUnknownFields removes them, and drops events of
// unknown kind, instead.
//
// The common events (most P2P messages, connections, mempool additions)
// are rewritten on their wire bytes rather than decoded and re-encoded
// (see fast.go); the result decodes to exactly what the full rewrite
// gives, and every other field keeps its bytes.
//
// # Archives
//
// Archive sanitizes whole archives (segments, directories, .partial files,
// peer-observer archives) into complete segments, one per input file,
// streaming: a first pass learns the node's own addresses from every
// getnetworkinfo poll, then every event, the metadata (Sanitizer.Meta) and
// the gaps (Sanitizer.Gap) are rewritten. CheckArchive is the leak scan
// behind `peertape sanitize --check`: it collects every address of the
// originals (AddressSet) and reports each one found in the sanitized
// files, with file, event ordinal and field path.
//
// # Time shift
//
// With a time shift, these absolute times move by the same offset:
// Event.timestamp (ms), connection time_established, mempool entry_time and
// replaced_entry_time (s), version timestamp and addr/addrv2 entry
// timestamps (s), getpeerinfo last_send, last_received, last_transaction,
// last_block and connection_time (s), getrawaddrman entry time (s),
// getnettotals time_millis (ms), log_timestamp (µs), and ping/pong nonces
// that hold a nanosecond time within a day of the event (the
// p2p-extractor's pings). Zero values mean "never" or "unknown" and stay
// zero. Times that are part of public block data (header times,
// getchaintxstats time, getblockchaininfo time and mediantime) are not
// shifted, because they are bound to block hashes: anyone who looks at the
// chain can undo a time shift, so it hides the wall clock only from a
// casual reader.
package sanitize
