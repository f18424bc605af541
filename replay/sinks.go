package replay

import (
	"bufio"
	"io"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// Discard is a sink that drops every event: for benchmarks and for
// checking an archive end to end at full speed.
var Discard event.Sink = event.SinkFunc(func(event.Event) error { return nil })

// JSONSink writes one JSON line per event (event.AppendJSONLine) to a
// buffered writer. Call Flush when the replay ends. Events that do not
// decode are skipped and counted, as the reader counts damaged frames.
type JSONSink struct {
	w       *bufio.Writer
	buf     []byte
	msg     pb.Event
	Skipped uint64 // events that did not decode
}

// NewJSONSink returns a JSONSink writing to w.
func NewJSONSink(w io.Writer) *JSONSink {
	return &JSONSink{w: bufio.NewWriterSize(w, 256<<10)}
}

// Consume writes ev as a JSON line. A write error (stdout closed) is
// returned and ends the replay.
func (s *JSONSink) Consume(ev event.Event) error {
	if err := ev.DecodeInto(&s.msg); err != nil {
		s.Skipped++
		return nil
	}
	var err error
	if s.buf, err = event.AppendJSONLine(s.buf[:0], ev, &s.msg); err != nil {
		s.Skipped++
		return nil
	}
	_, err = s.w.Write(s.buf)
	return err
}

// Flush writes out buffered lines.
func (s *JSONSink) Flush() error { return s.w.Flush() }
