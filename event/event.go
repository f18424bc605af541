// Package event defines the value that flows through peertape: one
// peer-observer event.Event as its exact wire bytes, with the few facts
// every stage needs (event time, kind, type) read off those bytes without a
// full protobuf decode.
//
// Sources (extractors, NATS, replay) produce Events; sinks (the recorder,
// analyzers, NATS publisher, JSON writer) consume them. Recording and
// republishing use Raw unchanged, so unknown fields and unknown oneof arms
// survive; analyzers call Decode.
package event

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// Event is one peer-observer event.Event.
//
// Raw is owned by the Event once it is handed to a sink: producers must not
// modify or reuse the slice afterwards, and sinks may keep it.
type Event struct {
	// Time is the event time: Event.timestamp, milliseconds since the UNIX
	// epoch, as set by the extractor. Zero when the field is missing.
	Time int64
	// Kind classifies the event by its oneof arm.
	Kind Kind
	// Type narrows Kind: the P2P message type (meta.command) for netmsg,
	// otherwise the name of the inner oneof arm ("inbound", "added",
	// "peer_infos", ...). Empty when the arm is unknown.
	Type string
	// Node names the node the event came from. It is not part of Raw: live
	// sources set it from configuration, readers from segment metadata.
	Node string
	// Raw holds the exact event.Event wire bytes.
	Raw []byte
}

// ErrMalformed is returned (wrapped) for bytes that are not a well-formed
// protobuf message.
var ErrMalformed = errors.New("malformed event")

// Parse classifies raw event.Event bytes. It reads only the timestamp and
// the oneof tags, so it is cheap enough for every record. Parse keeps a
// reference to raw. Unknown fields and unknown oneof arms are not errors:
// they yield Kind Unknown (or an empty Type) and the bytes are kept as they
// are. Only wire-level damage is an error, wrapping ErrMalformed.
func Parse(raw []byte) (Event, error) {
	ev := Event{Raw: raw}
	if err := classify(raw, &ev); err != nil {
		return Event{Raw: raw}, err
	}
	return ev, nil
}

// New encodes msg and classifies the result. Encoding is deterministic and
// fails when a proto2 required field is missing, so every event peertape
// produces decodes cleanly in peer-observer's Rust tools.
func New(msg *pb.Event) (Event, error) {
	raw, err := Marshal(msg)
	if err != nil {
		return Event{}, err
	}
	return Parse(raw)
}

// Marshal encodes msg deterministically, requiring every proto2 required
// field to be set.
func Marshal(msg *pb.Event) ([]byte, error) {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return raw, nil
}

// Decode fully decodes the event. Like peer-observer's Rust decoder it
// tolerates missing required fields; unknown fields are kept in the
// message's unknown-field set.
func (e Event) Decode() (*pb.Event, error) {
	msg := new(pb.Event)
	if err := e.DecodeInto(msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// DecodeInto decodes the event into msg, resetting it first, so a caller
// can reuse one message across events.
func (e Event) DecodeInto(msg *pb.Event) error {
	if err := unmarshalOpts.Unmarshal(e.Raw, msg); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

var unmarshalOpts = proto.UnmarshalOptions{AllowPartial: true}

// Selector returns "kind:type", or just the kind when Type is empty.
func (e Event) Selector() string {
	if e.Type == "" {
		return e.Kind.String()
	}
	return e.Kind.String() + ":" + e.Type
}
