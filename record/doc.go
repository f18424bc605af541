// Package record writes one or more event sources into rotating segment
// files in a directory, for months, beside a production node.
//
// A Recorder is an event.Sink (also event.GapSink and event.NodeInfoSink),
// safe for concurrent use: several sources may feed it from their own
// goroutines, and it serializes them into one stream in arrival order.
// Every event is written as the exact bytes the source delivered (only
// LowData re-encodes the few P2P messages it strips).
//
// # What can and cannot happen to the data
//
//   - One directory, one recorder: New takes an exclusive flock on
//     DIR/.peertape.lock and a second recorder fails with ErrLocked. The lock
//     dies with the process, so a crash never leaves a stale lock.
//   - A crash (kill -9) loses at most the events of the last flush interval:
//     the active segment is NAME.seg.zst.partial and its flushed blocks are
//     readable as they are. The next New recovers every leftover .partial in
//     DIR (format.Recover) before it records anything, and logs what it kept
//     and dropped.
//   - Shutdown (context cancelled) stops taking events, lets the sources
//     hand over what they buffered for at most ShutdownTimeout, then
//     finalizes the active segment (index, trailer, fsync, rename).
//   - Disk full: while the free space in DIR is below MinFree the recorder
//     finalizes the active segment with everything it received and stops
//     with an error wrapping ErrDiskFull; it does not resume by itself
//     (a supervisor such as systemd restarts it, and New refuses to start
//     until the space is back). If a write fails anyway (ENOSPC before the
//     guard saw it, EIO, a read-only remount), the segment is finalized up
//     to its last complete frame (format.Writer.Close) and the recorder
//     stops with that error. Finished segments are never touched.
//   - Retention deletes only finished segments of this recorder's node,
//     oldest first, never the active one and never the one being compacted.
//   - Payloads that are not protobuf at all never enter a segment (that
//     would break peer-observer's readers); Malformed keeps them in a side
//     file, DIR/malformed.jsonl, and counts them.
//
// # The malformed side file
//
// DIR/malformed.jsonl holds one JSON object per line, appended as payloads
// arrive:
//
//	{"time":"2026-04-07T09:07:13.133Z","subject":"netmsg","bytes":3,"data":"//8A"}
//
// time is the wall clock on arrival (RFC 3339, UTC), subject the NATS
// subject (or the source's name), bytes the payload length and data the
// payload in standard base64. The file grows up to MalformedMaxBytes; past
// that, payloads are only counted (metric
// peertape_record_malformed_payloads_total{stored="false"}) and a warning
// is logged once.
package record
