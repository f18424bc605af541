package record

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/peertape/peertape/format"
)

// LockName is the lock file New creates in the directory.
const LockName = ".peertape.lock"

// ErrLocked is returned (wrapped) by New when another process records into
// the directory.
var ErrLocked = errors.New("directory is in use by another recorder")

// dirLock is an exclusive flock on DIR/.peertape.lock.
type dirLock struct{ f *os.File }

// lockDir takes the lock without waiting. The file's content (pid, host,
// start time) only serves the error message of the next recorder that
// tries.
func lockDir(dir string, now time.Time) (*dirLock, error) {
	p := filepath.Join(dir, LockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(p)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			h := strings.TrimSpace(string(holder))
			if h == "" {
				h = "unknown process"
			}
			return nil, fmt.Errorf("%s: %w (%s); only one recorder may write a directory", dir, ErrLocked, h)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid %d on %s since %s\n", os.Getpid(), host, now.UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(info), 0)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	// The file stays: removing it would race with a recorder that has just
	// opened it and is about to lock it.
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// segFile is a finished segment of this recorder's node found in the
// directory.
type segFile struct {
	name  string
	path  string
	start time.Time // from the name
	seq   uint64
	size  int64
}

const segSuffix = ".seg.zst"

// parseSegName splits NODE-YYYYMMDDTHHMMSSZ-SEQ.seg.zst. ok is false for
// names that are not segments of the given (already sanitized) node prefix.
func parseSegName(name, prefix string) (start time.Time, seq uint64, ok bool) {
	if !strings.HasSuffix(name, segSuffix) || !strings.HasPrefix(name, prefix+"-") {
		return time.Time{}, 0, false
	}
	rest := strings.TrimSuffix(strings.TrimPrefix(name, prefix+"-"), segSuffix)
	ts, sq, found := strings.Cut(rest, "-")
	if !found || strings.Contains(sq, "-") {
		return time.Time{}, 0, false
	}
	t, err := time.Parse("20060102T150405Z", ts)
	if err != nil {
		return time.Time{}, 0, false
	}
	n, err := strconv.ParseUint(sq, 10, 64)
	if err != nil {
		return time.Time{}, 0, false
	}
	return t, n, true
}

// nodePrefix is the node part of the segment names SegmentName produces.
func nodePrefix(node string) string {
	n := format.SegmentName(node, time.Unix(0, 0), 0)
	return strings.TrimSuffix(n, "-19700101T000000Z-000000"+segSuffix)
}

// listSegments returns the finished segments of the node in dir, oldest
// first (names sort by time, then sequence).
func listSegments(dir, prefix string) ([]segFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []segFile
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		start, seq, ok := parseSegName(e.Name(), prefix)
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, segFile{name: e.Name(), path: filepath.Join(dir, e.Name()), start: start, seq: seq, size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// cleanTemporaries removes what an interrupted compact or recover left
// behind: hidden ".NAME.seg.zst.compacting[.partial]" and
// ".NAME.seg.zst.recovering[.partial]" files. The originals are untouched
// by those operations until their final atomic rename, so nothing is lost.
func cleanTemporaries(dir string, log *slog.Logger) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, ".") || !e.Type().IsRegular() {
			continue
		}
		base := strings.TrimSuffix(n, format.PartialSuffix)
		if strings.HasSuffix(base, segSuffix+".compacting") || strings.HasSuffix(base, segSuffix+".recovering") {
			if err := os.Remove(filepath.Join(dir, n)); err == nil {
				log.Info("removed temporary file of an interrupted compact or recover", "path", filepath.Join(dir, n))
			}
		}
	}
}

// RecoveredFile describes one leftover .partial that New finished.
type RecoveredFile struct {
	Report *format.RecoverReport
	Err    error // set when the file could not be recovered (it is left as it is)
}

// recoverPartials finishes every NAME.seg.zst.partial in dir.
func recoverPartials(dir string, log *slog.Logger) []RecoveredFile {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []RecoveredFile
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !e.Type().IsRegular() || !strings.HasSuffix(n, segSuffix+format.PartialSuffix) {
			continue
		}
		p := filepath.Join(dir, n)
		final := strings.TrimSuffix(p, format.PartialSuffix)
		if _, err := os.Lstat(final); err == nil {
			err := fmt.Errorf("recover %s: %s exists too; leaving both for a human to compare", p, final)
			log.Error("leftover segment not recovered", "path", p, "err", err)
			out = append(out, RecoveredFile{Err: err})
			continue
		}
		if info, err := e.Info(); err == nil && info.Size() == 0 {
			// Killed between creating the file and writing its metadata:
			// there is nothing in it to keep.
			os.Remove(p)
			log.Warn("removed empty leftover segment", "path", p)
			continue
		}
		rep, err := format.Recover(p, format.RecoverOptions{})
		if err != nil {
			log.Error("leftover segment could not be recovered; left in place for `peertape recover`", "path", p, "err", err)
			out = append(out, RecoveredFile{Err: fmt.Errorf("recover %s: %w", p, err)})
			continue
		}
		log.Info("recovered leftover segment", "input", rep.Input, "output", rep.Output, "events_kept", rep.Events,
			"bytes_dropped", rep.DroppedBytes, "problems", len(rep.Problems))
		for _, pr := range rep.Problems {
			log.Warn("recovered segment had damage", "output", rep.Output, "problem", pr)
		}
		out = append(out, RecoveredFile{Report: rep})
	}
	return out
}

// freeBytes returns the bytes available to unprivileged users in the file
// system holding dir (root may use a few more reserved blocks; the guard
// stays on the safe side).
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
