package rpc

import (
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// FuzzConvert feeds arbitrary JSON to every result converter: none may
// panic, and every result it accepts (wholly or partly) must encode as an
// event with all proto2 required fields set.
func FuzzConvert(f *testing.F) {
	for i, m := range methods {
		b, err := jsonFixture(m.name)
		if err == nil {
			f.Add(b, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		m := methods[int(which)%len(methods)]
		msg, err := m.convert(json.RawMessage(data))
		if err != nil {
			if _, partial := err.(*partialError); !partial {
				if msg != nil {
					t.Fatalf("%s: error %v with a message", m.name, err)
				}
				return
			}
		}
		if msg == nil {
			t.Fatalf("%s: no message and no error", m.name)
		}
		if _, err := event.New(&pb.Event{Timestamp: proto.Uint64(1), PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: msg}}); err != nil {
			t.Fatalf("%s: accepted result does not encode: %v", m.name, err)
		}
	})
}
