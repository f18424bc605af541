package p2p

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/peertape/peertape/proto/pb"
)

func fuzzExtractor(t testing.TB) *Extractor {
	x, err := New(Options{Network: "regtest", MaxMessageSize: 1 << 16, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// checkEvents requires every event the handler produced to encode.
func checkEvents(t *testing.T, p *peer, events []*pb.P2P) {
	for _, e := range events {
		if _, err := p.build(e); err != nil {
			t.Fatalf("event does not encode: %v", err)
		}
	}
}

// FuzzStream feeds a byte stream from a "node" through framing and the
// protocol handler, as a connection would: it must never panic, and every
// event it produces must encode.
func FuzzStream(f *testing.F) {
	f.Add(validStream(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		x := fuzzExtractor(t)
		p := &peer{x: x, remote: "127.0.0.1:1", label: "127.0.0.1"}
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			cmd, payload, err := readMessage(r, x.magic, x.opts.MaxMessageSize)
			if err != nil {
				return
			}
			_, events, err := p.handle(cmd, payload, time.Now())
			checkEvents(t, p, events)
			if err != nil {
				return
			}
		}
	})
}

// FuzzHandle gives the handler of an established connection any command
// and payload, bypassing framing, so the payload decoders get the fuzzer's
// full attention.
func FuzzHandle(f *testing.F) {
	f.Add("addrv2", addrV2Payload(f))
	f.Add("inv", []byte{1, 2, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})
	f.Add("feefilter", []byte{0xe8, 3, 0, 0, 0, 0, 0, 0})
	f.Add("pong", []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add("ping", []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, cmd string, payload []byte) {
		x := fuzzExtractor(t)
		p := &peer{x: x, remote: "127.0.0.1:1", label: "127.0.0.1", gotVer: true, verackOut: true,
			pending: map[uint64]time.Time{0x0807060504030201: time.Now()}}
		_, events, _ := p.handle(cmd, payload, time.Now())
		checkEvents(t, p, events)
	})
}

// FuzzDecodeAddrV2: every accepted entry has exactly one address arm.
func FuzzDecodeAddrV2(f *testing.F) {
	f.Add(addrV2Payload(f))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		addrs, err := decodeAddrV2(payload)
		if err != nil {
			return
		}
		for i, a := range addrs {
			if a.GetAddress() == nil {
				t.Fatalf("entry %d has no address arm", i)
			}
		}
	})
}
