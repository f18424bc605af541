package synth

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// Most events are debug.log lines. They are encoded here directly, byte
// for byte what proto.MarshalOptions{Deterministic: true} produces for
// the same pb.Event (TestLogEncodingMatchesProto holds the two together),
// because the generic marshaller would be most of the generator's time.

// Field numbers of event.Event, log_extractor.log and UnknownLogMessage.
const (
	fEventLog       = 4
	fEventTimestamp = 10
	fLogTimestamp   = 1
	fLogCategory    = 2
	fLogUnknown     = 4
	fUnknownRaw     = 1
)

// appendLogEvent appends the wire form of an event.Event holding an
// UnknownLogMessage.
func appendLogEvent(b []byte, ts uint64, us uint64, cat pb.LogDebugCategory, msg string) []byte {
	unknown := protowire.SizeTag(fUnknownRaw) + protowire.SizeBytes(len(msg))
	log := protowire.SizeTag(fLogTimestamp) + protowire.SizeVarint(us) +
		protowire.SizeTag(fLogCategory) + protowire.SizeVarint(uint64(cat)) +
		protowire.SizeTag(fLogUnknown) + protowire.SizeBytes(unknown)
	b = protowire.AppendTag(b, fEventTimestamp, protowire.VarintType)
	b = protowire.AppendVarint(b, ts)
	b = protowire.AppendTag(b, fEventLog, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(log))
	b = protowire.AppendTag(b, fLogTimestamp, protowire.VarintType)
	b = protowire.AppendVarint(b, us)
	b = protowire.AppendTag(b, fLogCategory, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(cat))
	b = protowire.AppendTag(b, fLogUnknown, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(unknown))
	b = protowire.AppendTag(b, fUnknownRaw, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(msg)))
	return append(b, msg...)
}

func logEventSize(ts, us uint64, cat pb.LogDebugCategory, msg string) int {
	unknown := protowire.SizeTag(fUnknownRaw) + protowire.SizeBytes(len(msg))
	log := protowire.SizeTag(fLogTimestamp) + protowire.SizeVarint(us) +
		protowire.SizeTag(fLogCategory) + protowire.SizeVarint(uint64(cat)) +
		protowire.SizeTag(fLogUnknown) + protowire.SizeBytes(unknown)
	return protowire.SizeTag(fEventLog) + protowire.SizeBytes(log) + protowire.SizeTag(fEventTimestamp) + protowire.SizeVarint(ts)
}

// emitRaw hands already-encoded event bytes to the sink.
func (s *sim) emitRaw(raw []byte) {
	if s.err != nil {
		return
	}
	ev, err := event.Parse(raw)
	if err != nil {
		s.err = err
		return
	}
	ev.Node = s.o.Node
	s.stats.Events++
	s.stats.RawBytes += uint64(len(raw))
	if s.inAnom {
		s.stats.AnomalyEvents++
	} else {
		s.baseEv++
	}
	if err := s.sink.Consume(ev); err != nil {
		s.err = err
		return
	}
	if s.stats.Events&1023 == 0 {
		s.err = s.ctx.Err()
	}
}
