package edit

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
)

func TestProfMerge(t *testing.T) {
	runtime.MemProfileRate = 4096
	done := make(chan bool)
	var max uint64
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > max+4<<20 {
				max = ms.HeapAlloc
				f, _ := os.Create("/tmp/smoke/heap.prof")
				runtime.GC()
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}()
	os.RemoveAll("/tmp/smoke/mo2")
	_, err := Merge(context.Background(), []string{"/tmp/smoke/m30"}, Options{Out: "/tmp/smoke/mo2", FrameSize: 1 << 20})
	close(done)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(max >> 20)
}
