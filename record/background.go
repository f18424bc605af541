package record

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/peertape/peertape/format"
)

// applyRetention deletes finished segments of the node that are past
// RetainAge, then the oldest ones while the node's segments take more than
// RetainSize. The active segment (a .partial, not listed) and the segment
// being compacted are never deleted.
func (r *Recorder) applyRetention() {
	if r.o.RetainSize <= 0 && r.o.RetainAge <= 0 {
		return
	}
	segs, err := listSegments(r.o.Dir, r.prefix)
	if err != nil {
		r.log.Error("retention: cannot list segments", "err", err)
		return
	}
	r.mu.Lock()
	activeStart := r.segStart
	r.mu.Unlock()
	now := r.o.Now()
	var busy string
	if p := r.compacting.Load(); p != nil {
		busy = *p
	}
	total := r.active.Load()
	for _, s := range segs {
		total += s.size
	}
	remove := func(s segFile, reason string) bool {
		if s.path == busy {
			return false
		}
		if err := os.Remove(s.path); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				r.log.Error("retention: cannot delete segment", "path", s.path, "err", err)
			}
			return false
		}
		r.m.deleted.WithLabelValues(reason).Inc()
		r.m.deletedBytes.WithLabelValues(reason).Add(float64(s.size))
		r.log.Info("retention: deleted segment", "path", s.path, "reason", reason, "bytes", s.size, "started", s.start)
		return true
	}
	var kept []segFile
	for i, s := range segs {
		// A segment ends where the next one starts; the newest finished
		// one ends where the active one started.
		end := activeStart
		if i+1 < len(segs) {
			end = segs[i+1].start
		} else if end.IsZero() {
			end = now // no active segment yet: the newest may have ended just now
		}
		if r.o.RetainAge > 0 && now.Sub(end) > r.o.RetainAge && remove(s, "age") {
			total -= s.size
			continue
		}
		kept = append(kept, s)
	}
	if r.o.RetainSize > 0 {
		for _, s := range kept {
			if total <= r.o.RetainSize {
				break
			}
			if remove(s, "size") {
				total -= s.size
			}
		}
		if total > r.o.RetainSize {
			r.log.Warn("retention: segments still exceed --retain-size (the active segment is never deleted)", "bytes", total, "retain_size", r.o.RetainSize)
		}
	}
}

// compactLoop recompresses segments one at a time: first those left
// uncompacted by earlier runs, then each rotated segment.
func (r *Recorder) compactLoop() {
	defer r.compactWG.Done()
	for _, path := range r.uncompacted() {
		if r.compactCtx.Err() != nil {
			break
		}
		r.compactOne(path)
	}
	for path := range r.compactQ {
		if r.compactCtx.Err() != nil {
			continue // shutting down: drain the queue
		}
		r.compactOne(path)
	}
}

func (r *Recorder) compactOne(path string) {
	st, err := os.Stat(path)
	if err != nil {
		r.m.compactions.WithLabelValues("skipped").Inc()
		return // deleted by retention meanwhile
	}
	// Compaction writes a full copy before it replaces the original.
	if r.o.MinFree >= 0 {
		if free, err := freeBytes(r.o.Dir); err == nil && free < st.Size()+r.o.MinFree {
			r.m.compactions.WithLabelValues("skipped").Inc()
			r.log.Warn("compaction skipped: not enough free space for the copy", "path", path, "free", free, "needed", st.Size()+r.o.MinFree)
			return
		}
	}
	p := path
	r.compacting.Store(&p)
	start := time.Now()
	err = r.o.Compact(r.compactCtx, path)
	r.compacting.Store(nil)
	switch {
	case err != nil && r.compactCtx.Err() != nil:
		r.log.Info("compaction interrupted by shutdown; segment left as it was", "path", path)
	case err != nil:
		r.m.compactions.WithLabelValues("failed").Inc()
		r.log.Warn("compaction failed; segment left as it was", "path", path, "err", err)
	default:
		r.m.compactions.WithLabelValues("ok").Inc()
		var after int64
		if st2, err := os.Stat(path); err == nil {
			after = st2.Size()
		}
		r.log.Info("segment compacted", "path", path, "bytes_before", st.Size(), "bytes_after", after, "took", time.Since(start).Round(time.Millisecond))
	}
}

// uncompacted lists finished segments of the node still below
// CompactLevel: those finished by a shutdown or recovered at start, which
// rotation never handed to the compactor.
func (r *Recorder) uncompacted() []string {
	segs, err := listSegments(r.o.Dir, r.prefix)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range segs {
		rd, err := format.Open(s.path)
		if err != nil {
			continue
		}
		lvl, complete := rd.Meta().GetCompressionLevel(), rd.Complete()
		rd.Close()
		if complete && int(lvl) < r.o.CompactLevel {
			out = append(out, s.path)
		}
	}
	return out
}

// malformedFile is DIR/malformed.jsonl (format in the package doc).
type malformedFile struct {
	path   string
	max    int64
	log    *slog.Logger
	mu     sync.Mutex
	f      *os.File
	size   int64
	count  uint64
	warned bool
}

func newMalformedFile(path string, max int64, log *slog.Logger) *malformedFile {
	return &malformedFile{path: path, max: max, log: log}
}

type malformedLine struct {
	Time    string `json:"time"`
	Subject string `json:"subject"`
	Bytes   int    `json:"bytes"`
	Data    []byte `json:"data"`
}

// add appends one payload and reports whether it was stored.
func (m *malformedFile) add(subject string, data []byte, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	line, _ := json.Marshal(malformedLine{Time: now.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Subject: subject, Bytes: len(data), Data: data})
	line = append(line, '\n')
	if m.max < 0 {
		return false
	}
	if m.f == nil {
		f, err := os.OpenFile(m.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			m.warnOnce("cannot open the malformed-payload file; payloads are only counted", "err", err)
			return false
		}
		if st, err := f.Stat(); err == nil {
			m.size = st.Size()
		}
		m.f = f
	}
	if m.size+int64(len(line)) > m.max {
		m.warnOnce("malformed-payload file is full; further payloads are only counted", "max_bytes", m.max)
		return false
	}
	n, err := m.f.Write(line)
	m.size += int64(n)
	if err != nil {
		m.warnOnce("cannot write the malformed-payload file; payloads are only counted", "err", err)
		return false
	}
	m.count++
	if m.count&(m.count-1) == 0 { // 1st, 2nd, 4th, 8th ...: visible, never a flood
		m.log.Warn("payload is not an event; kept in the malformed-payload file", "subject", subject, "bytes", len(data), "file", m.path, "count", m.count)
	}
	return true
}

func (m *malformedFile) warnOnce(msg string, args ...any) {
	if !m.warned {
		m.warned = true
		m.log.Warn(msg, append(args, "file", m.path)...)
	}
}

func (m *malformedFile) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f != nil {
		m.f.Sync()
		m.f.Close()
		m.f = nil
	}
}
