package format

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/peertape/peertape/event"
)

// peekTime must agree with event.Parse wherever Parse accepts a record:
// the reader passes records over on its word.
func TestPeekTime(t *testing.T) {
	ts := func(b []byte, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, fieldTimestamp, protowire.VarintType), v)
	}
	first := testEvents(t, 1, 3, 1_700_000_000_000)[0]
	body := first.Raw
	cases := []struct {
		name   string
		rec    []byte
		want   int64
		wantOK bool
	}{
		{"event", body, first.Time, true},
		{"empty", nil, 0, true},
		{"no timestamp", protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), nil), 0, true},
		{"last timestamp wins", ts(ts(nil, 5), 7), 7, true},
		{"timestamp before the arm", append(ts(nil, 9), body...), first.Time, true},
		{"timestamp of the wrong wire type", append(protowire.AppendBytes(protowire.AppendTag(nil, fieldTimestamp, protowire.BytesType), []byte{1}), ts(nil, 11)...), 11, true},
		{"truncated length", body[:len(body)/2], 0, false},
		{"bad tag", []byte{0x80}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := peekTime(c.rec)
			if ok != c.wantOK || (ok && got != c.want) {
				t.Fatalf("peekTime = %d, %v; want %d, %v", got, ok, c.want, c.wantOK)
			}
			if ev, err := event.Parse(c.rec); err == nil && ev.Time != got {
				t.Fatalf("event.Parse says time %d, peekTime %d", ev.Time, got)
			}
		})
	}
	for i, ev := range testEvents(t, 2000, 5, 1_700_000_000_000) {
		if got, ok := peekTime(ev.Raw); !ok || got != ev.Time {
			t.Fatalf("event %d (%s): peekTime = %d, %v; want %d", i, ev.Selector(), got, ok, ev.Time)
		}
	}
}

func FuzzPeekTime(f *testing.F) {
	for _, ev := range testEvents(f, 20, 9, 1_700_000_000_000) {
		f.Add(ev.Raw)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		got, ok := peekTime(rec)
		ev, err := event.Parse(rec)
		if err != nil {
			return // the reader classifies such records itself
		}
		if !ok || got != ev.Time {
			t.Fatalf("event.Parse accepts the record with time %d; peekTime = %d, %v", ev.Time, got, ok)
		}
	})
}
