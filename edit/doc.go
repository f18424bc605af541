// Package edit cuts, merges and splits archives the way editcap and
// mergecap edit packet captures: Filter keeps a time range, kinds and
// peers; Merge interleaves archives (of one node or many) by event time;
// Split cuts an archive by event time or size.
//
// # What every edit guarantees
//
// Records are copied byte for byte — events are never decoded and
// re-encoded — so unknown fields and unknown kinds survive exactly. Every
// output is a complete segment with an index, written with one flush per
// second of event time like a live recording. Inputs may be segments,
// directories of them, .partial files and peer-observer archives; damage
// in an input is skipped and reported, never fatal, and every readable
// record is kept.
//
// Segment metadata names one node, so every edit keeps each event's node
// by writing separate output segments per node: into a directory, named
// NODE-TIME-SEQ.seg.zst (TIME is the first event's time), or into one
// named file when the output holds a single node. Output metadata is the
// first input's of that node, with the creation time set to the first
// event's, the sequence and previous name set along the outputs, and a
// label "peertape.edit" saying what was done; sanitization and low-data
// marks are kept, and an edit refuses to mix sanitized and unsanitized
// inputs (or inputs sanitized with different keys) of one node, which
// would make the output's metadata lie. Recorded gaps are carried to the
// output segment whose time covers them.
//
// # Memory
//
// Every edit streams: it holds one reader per input file being read
// (Merge: per file whose time range overlaps the current event time, as
// replay does) and one writer per node. Memory does not grow with the
// size or number of the inputs.
package edit
