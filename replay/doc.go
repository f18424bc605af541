// Package replay turns archives back into a live event stream: it opens
// segments, directories, .partial files and peer-observer archives, merges
// them by event time, and feeds the events to a sink at the original pace,
// faster, slower or as fast as the sinks take them.
//
//	r, err := replay.Open(paths, replay.From(from), replay.Only("netmsg"), replay.Speed(10))
//	defer r.Close()
//	err = r.Run(ctx, sink) // event.Source
//	st := r.Stats()
//
// A Replay is also a plain iterator over the merged stream (Next, Event,
// RawEvent), without pacing.
//
// # Order
//
// Every file is one input of a k-way merge keyed by (event time, file
// order): the next event is the earliest head among the open inputs, and
// equal times come out in the order the files were given (after directory
// expansion, which sorts by name, i.e. by time for one node). Every event
// keeps the node name of its file.
//
// Records inside a file are kept in arrival order, which is the order the
// live subscribers saw. Arrival order can step slightly backwards in time
// (extractors stamp events independently). Such a record is not moved: it
// comes out right after its predecessor in the file, before later events of
// other files. The merge is therefore ordered by time exactly when each
// file is, and otherwise ordered up to those backward steps, which Stats
// counts.
//
// # Memory
//
// A file is opened only when the merge reaches its start time: the index's
// minimum event time, or for files without an index (.partial,
// peer-observer archives) the time of the first record, read once by Open
// and then closed. The one file the merge will open next is opened ahead
// in the background, so that a paced replay does not stall at file
// boundaries. An open file costs one zstd decoder with its window
// (about 10 MiB for segments at the default level) and a 256 KiB record
// buffer. Files of one node follow each other in time, so a replay of one
// node over 1,000 files holds two files open at a time (the current one and
// the next, opened ahead); memory grows
// with the number of files whose time ranges overlap (nodes), not with the
// number or size of files.
//
// # Time range
//
// From (inclusive) and To (exclusive) are applied per record, so the result
// is exactly the events a full scan would select. Segment indexes let the
// reader skip every frame outside the range without decompressing it, and
// files outside it are never opened.
//
// # Pacing
//
// The pacer schedules every event against the start of the replay, never
// against the previous event: event e is due at
//
//	wall start + (pace(e) − pace(first)) / speed
//
// so sleep overshoot and slow sinks never accumulate into drift. When the
// replay is behind (a slow sink, a timer that woke late) due events are
// sent at once without sleeping until it has caught up; the delay of each
// event (actual minus scheduled send time) is the lag reported in Stats.
//
// pace(e) is the running maximum of event time, so a record that steps
// backwards is sent immediately after its predecessor and the pacer never
// sleeps "backwards". With SkipGaps(d), every stretch without events longer
// than d is shortened to d: it still takes d/speed of wall time, so quiet
// periods stay visible without lasting hours. Pausing, stepping and speed
// changes (Control) re-anchor the schedule at the moment they happen.
package replay
