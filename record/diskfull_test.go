package record

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
)

// mountTmpfs mounts a tmpfs of the given size (e.g. "4m") for the test.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount -t tmpfs not permitted here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

// countingSource feeds events at a steady pace and counts those the
// recorder accepted.
type countingSource struct {
	evs      []event.Event
	every    time.Duration
	accepted atomic.Int64
}

func (s *countingSource) Run(ctx context.Context, sink event.Sink) error {
	var tick <-chan time.Time
	if s.every > 0 {
		t := time.NewTicker(s.every)
		defer t.Stop()
		tick = t.C
	}
	for _, ev := range s.evs {
		if tick != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick:
			}
		}
		if err := sink.Consume(ev); err != nil {
			return err
		}
		s.accepted.Add(1)
	}
	return nil
}

// A real ENOSPC (the free-space guard disabled): the recorder stops with
// the error, earlier segments stay valid, the active one is finalized up
// to its last complete frame, and nothing it keeps is out of order.
func TestDiskFullENOSPC(t *testing.T) {
	mnt := mountTmpfs(t, "4m")
	r, reg := newTestRecorder(t, Options{Dir: mnt, MinFree: -1, MaxSegmentSize: 1 << 20, FrameSize: 64 << 10, FlushInterval: 20 * time.Millisecond})
	src := &countingSource{evs: bulkyEvents(t, 4000, 2000, 11)} // 8 MB into 4 MiB
	err := r.Run(context.Background(), src)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Run = %v, want ENOSPC", err)
	}
	closeErr := r.Close()
	t.Logf("Close: %v", closeErr)
	if p := partials(t, mnt); len(p) > 0 {
		t.Fatalf("active segment not finalized: %v\n%s", p, dump(t, mnt))
	}
	verifyAll(t, mnt)
	got := readDir(t, mnt)
	accepted := src.evs[:src.accepted.Load()]
	isPrefix(t, got, accepted)
	if len(segments(t, mnt)) < 3 {
		t.Fatalf("expected several finished segments before the disk filled:\n%s", dump(t, mnt))
	}
	if metric(t, reg, "peertape_record_write_errors_total") < 1 {
		t.Error("write error not counted")
	}
	t.Logf("accepted %d events, kept %d (lost the unfinished frame: %d)", len(accepted), len(got), len(accepted)-len(got))
}

// The free-space guard: below MinFree the recorder finalizes the active
// segment with every event it accepted and stops with ErrDiskFull.
func TestDiskFullGuard(t *testing.T) {
	mnt := mountTmpfs(t, "4m")
	r, reg := newTestRecorder(t, Options{Dir: mnt, MinFree: 1536 << 10, MaxSegmentSize: 1 << 20, FrameSize: 64 << 10, FlushInterval: 20 * time.Millisecond})
	// About 2 MB/s: the 1.5 MiB margin is many guard ticks (20 ms) deep.
	src := &countingSource{evs: bulkyEvents(t, 4000, 2000, 12), every: time.Millisecond}
	err := r.Run(context.Background(), src)
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Run = %v, want ErrDiskFull", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close after the guard tripped: %v", err)
	}
	if p := partials(t, mnt); len(p) > 0 {
		t.Fatalf("active segment not finalized: %v", p)
	}
	verifyAll(t, mnt)
	sameEvents(t, readDir(t, mnt), src.evs[:src.accepted.Load()])
	if metric(t, reg, "peertape_record_write_errors_total") != 0 {
		t.Error("the guard should stop before any write fails")
	}
	// And it does not start again until space is back.
	if _, err := New(Options{Dir: mnt, Node: "n1", MinFree: 1536 << 10, Logger: testLogger(t)}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("restart on a full disk: %v, want ErrDiskFull", err)
	}
}

// An unwritable directory (a read-only mount) is refused at start with an
// error that names the cause. (Linux refuses to remount a file system
// read-only while the recorder holds files open for writing, so a write
// failing mid-run is exercised by TestDiskFullENOSPC.)
func TestUnwritableDirRefused(t *testing.T) {
	mnt := mountTmpfs(t, "1m")
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v: %s", err, out)
	}
	_, err := New(Options{Dir: mnt, Node: "n1", MinFree: -1, Logger: testLogger(t)})
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("New on a read-only directory: %v, want EROFS", err)
	}
}
