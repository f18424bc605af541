package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/proto/pb"
)

func main() {
	dir := os.Args[1]
	start := int64(1775552833000)
	for n, node := range []string{"alpha", "beta"} {
		evs := testevents.Mixed(60000, uint64(n+1), start+int64(n)*7)
		for part := 0; part < 3; part++ {
			chunk := evs[part*20000 : (part+1)*20000]
			t := time.UnixMilli(chunk[0].Time)
			p := filepath.Join(dir, node, format.SegmentName(node, t, uint64(part)))
			os.MkdirAll(filepath.Dir(p), 0o755)
			w, err := format.Create(p, format.WriterOptions{FlushInterval: -1, EventTimeFlush: time.Second, FrameSize: 1 << 20, Meta: &pb.SegmentMeta{Node: node, CreatedMs: chunk[0].Time}})
			if err != nil {
				panic(err)
			}
			for _, ev := range chunk {
				w.Append(ev)
			}
			if err := w.Close(); err != nil {
				panic(err)
			}
			fmt.Println(p)
		}
	}
}
