package format

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// A real ENOSPC on a small tmpfs: Close truncates the unfinished frame and
// still leaves a complete segment that Verify accepts, whose index counts
// exactly the records it holds — also when the lost frame was frame 0,
// which carries the ArchiveHeader.
func TestCloseAfterENOSPC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
	}
	for _, c := range []struct {
		name      string
		frameSize int64
	}{
		{"open frame 0", 64 << 20},
		{"open frame after closed frames", 256 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			mnt := filepath.Join(t.TempDir(), "mnt")
			os.Mkdir(mnt, 0o755)
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
				t.Skipf("mount -t tmpfs not permitted here: %v: %s", err, out)
			}
			t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })

			path := filepath.Join(mnt, "n1-20260407T100000Z-000000.seg.zst")
			w, err := Create(path, WriterOptions{FlushInterval: -1, FrameSize: c.frameSize, Meta: &pb.SegmentMeta{Node: "n1"}})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var written []event.Event
			var werr error
			for i := 0; i < 2000 && werr == nil; i++ {
				raw := make([]byte, 2000)
				for j := range raw {
					raw[j] = byte(rng.Uint32())
				}
				ev, err := event.New(&pb.Event{Timestamp: proto.Uint64(uint64(i)), PeerObserverEvent: &pb.Event_LogExtractor{LogExtractor: &pb.Log{
					LogTimestamp: proto.Uint64(1), Category: pb.LogDebugCategory_NET.Enum(),
					LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String(string(raw))}}}}})
				if err != nil {
					t.Fatal(err)
				}
				if werr = w.Append(ev); werr == nil {
					written = append(written, ev)
					if i%20 == 0 {
						werr = w.Flush()
					}
				}
			}
			if !errors.Is(werr, syscall.ENOSPC) {
				t.Fatalf("writing 4 MB into 1 MiB: %v, want ENOSPC", werr)
			}
			if err := w.Close(); err == nil {
				t.Fatal("Close after a write error reported success")
			}
			if _, err := os.Stat(path + PartialSuffix); !os.IsNotExist(err) {
				t.Fatal("segment left as .partial")
			}
			rep, err := Verify(path)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("segment after ENOSPC: %v", rep.Problems)
			}
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			n := 0
			for r.Next() {
				if n >= len(written) || !bytes.Equal(r.RawEvent().Raw, written[n].Raw) {
					t.Fatalf("record %d is not the %d-th written event", n, n)
				}
				n++
			}
			if r.Index().Events != uint64(n) {
				t.Fatalf("index counts %d events, file holds %d", r.Index().Events, n)
			}
			if c.frameSize > 1<<20 && n != 0 {
				t.Fatalf("kept %d events of a frame that never closed", n)
			}
			if c.frameSize < 1<<20 && n == 0 {
				t.Fatal("closed frames lost")
			}
			if r.Header() == nil || len(r.Index().Frames) == 0 || r.Index().HeaderLen == 0 {
				t.Fatal("frame 0 with the ArchiveHeader missing")
			}
			t.Logf("wrote %d events, kept %d", len(written), n)
		})
	}
}
