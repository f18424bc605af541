package rpc

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// syntheticAddrman builds a getrawaddrman result of n entries shaped like
// Core's (a full mainnet address manager holds about 65,000).
func syntheticAddrman(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"new":{`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%d/%d":{"address":"203.0.%d.%d","mapped_as":64500,"port":8333,"services":3081,"time":1745812004,"network":"ipv4","source":"198.51.100.%d","source_network":"ipv4","source_mapped_as":64496}`,
			i/64, i%64, i/256%256, i%256, i%200)
	}
	b.WriteString(`},"tried":{}}`)
	return []byte(b.String())
}

func BenchmarkConvertRawAddrman(b *testing.B) {
	raw := syntheticAddrman(65536)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := convertRawAddrman(json.RawMessage(raw)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*65536/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkConvertPeerInfo(b *testing.B) {
	one, err := jsonFixture(GetPeerInfo)
	if err != nil {
		b.Fatal(err)
	}
	var peers []json.RawMessage
	if err := json.Unmarshal(one, &peers); err != nil {
		b.Fatal(err)
	}
	var list []json.RawMessage
	for len(list) < 125 { // Core's default maximum connections
		list = append(list, peers...)
	}
	raw, _ := json.Marshal(list[:125])
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := convertPeerInfo(json.RawMessage(raw)); err != nil {
			b.Fatal(err)
		}
	}
}
