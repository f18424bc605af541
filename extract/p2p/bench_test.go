package p2p

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/peertape/peertape/extract/internal/wirepb"
)

// BenchmarkHandleInv: a 35-item wtx inv (Core's typical trickle batch)
// through decoding, conversion and event encoding.
func BenchmarkHandleInv(b *testing.B) {
	inv := wire.NewMsgInv()
	for i := 0; i < 35; i++ {
		inv.AddInvVect(wire.NewInvVect(wire.InvType(wirepb.InvWTx), &chainhash.Hash{byte(i)}))
	}
	var buf bytes.Buffer
	inv.BtcEncode(&buf, protocolVersion, wire.LatestEncoding)
	benchHandle(b, wire.CmdInv, buf.Bytes())
}

// BenchmarkHandleAddrV2: a full 1,000-entry addrv2.
func BenchmarkHandleAddrV2(b *testing.B) {
	var buf bytes.Buffer
	wire.WriteVarInt(&buf, 0, 1000)
	for i := 0; i < 1000; i++ {
		binary.Write(&buf, binary.LittleEndian, uint32(1745827000))
		wire.WriteVarInt(&buf, 0, 1033)
		buf.WriteByte(1)
		wire.WriteVarInt(&buf, 0, 4)
		buf.Write([]byte{203, 0, byte(i >> 8), byte(i)})
		binary.Write(&buf, binary.BigEndian, uint16(8333))
	}
	benchHandle(b, wire.CmdAddrV2, buf.Bytes())
}

func benchHandle(b *testing.B, cmd string, payload []byte) {
	x := fuzzExtractor(b)
	p := &peer{x: x, remote: "127.0.0.1:1", label: "127.0.0.1", gotVer: true, verackOut: true}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	now := time.Now()
	for b.Loop() {
		_, events, err := p.handle(cmd, payload, now)
		if err != nil || len(events) != 1 {
			b.Fatal(err)
		}
		if _, err := p.build(events[0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
