package format

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// recordDigest hashes a record stream (lengths and bytes), to prove that a
// rewritten file holds exactly the records of the original.
type recordDigest struct {
	h hash.Hash
	n uint64
}

func newRecordDigest() *recordDigest { return &recordDigest{h: sha256.New()} }

func (d *recordDigest) add(raw []byte) {
	var l [binary.MaxVarintLen64]byte
	d.h.Write(l[:binary.PutUvarint(l[:], uint64(len(raw)))])
	d.h.Write(raw)
	d.n++
}

func (d *recordDigest) sum() string { return fmt.Sprintf("%d:%x", d.n, d.h.Sum(nil)) }

// digestFile hashes every record of path.
func digestFile(path string) (string, []*CorruptError, error) {
	r, err := Open(path, ReadOptions{Raw: true})
	if err != nil {
		return "", nil, err
	}
	defer r.Close()
	d := newRecordDigest()
	for r.Next() {
		d.add(r.Record())
	}
	return d.sum(), r.Problems(), r.Err()
}

// tempSibling returns a hidden temporary name next to path for a rewrite;
// Expand ignores hidden files, so a crash leaves nothing that looks like
// an archive.
func tempSibling(path, what string) string {
	dir, base := filepath.Split(path)
	base = strings.TrimSuffix(base, PartialSuffix)
	return filepath.Join(dir, "."+base+"."+what)
}

// copyInto streams every record r yields into w, digesting them.
func copyInto(r *Reader, w *Writer, d *recordDigest) error {
	for r.Next() {
		ev := r.RawEvent()
		if err := w.Append(ev); err != nil {
			return err
		}
		if d != nil {
			d.add(ev.Raw)
		}
	}
	return r.Err()
}

// RecoverReport says what Recover kept and dropped.
type RecoverReport struct {
	Input        string   `json:"input"`
	Output       string   `json:"output"`
	Events       uint64   `json:"events"`
	DroppedBytes int64    `json:"dropped_bytes"`
	Problems     []string `json:"problems,omitempty"`
}

// RecoverOptions configure Recover.
type RecoverOptions struct {
	// Output is the path of the recovered segment; default the input path
	// without .partial (for a complete but damaged segment: the input path,
	// replaced atomically).
	Output string
	// Keep keeps the input file (by default a .partial is removed once the
	// recovered segment is safely in place).
	Keep   bool
	Writer WriterOptions
}

// Recover turns a .partial or damaged segment (or a peer-observer archive)
// into a complete segment with an index, keeping every record that can be
// read: complete frames, the complete blocks of a torn frame, and the
// records of a damaged frame decoded before the damage. The index records
// what was dropped.
func Recover(path string, o RecoverOptions) (*RecoverReport, error) {
	r, err := Open(path, ReadOptions{NoIndex: true})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := o.Output
	if out == "" {
		out = strings.TrimSuffix(path, PartialSuffix)
	}
	tmp := tempSibling(out, "recovering")
	os.Remove(tmp + PartialSuffix)
	wo := o.Writer
	wo.Meta = proto.Clone(r.Meta()).(*pb.SegmentMeta)
	if wo.Level == 0 && r.Meta().CompressionLevel > 0 {
		wo.Level = int(r.Meta().CompressionLevel)
	}
	wo.Meta.CompressionLevel = 0
	wo.FlushInterval = -1
	wo.Fsync = FsyncSegment
	w, err := Create(tmp, wo)
	if err != nil {
		return nil, err
	}
	if err := copyInto(r, w, nil); err != nil {
		w.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("recover %s: %w", path, err)
	}
	rep := &RecoverReport{Input: path, Output: out, Events: r.scanned.events(), DroppedBytes: r.Dropped() + r.DroppedRaw()}
	for _, p := range r.Problems() {
		rep.Problems = append(rep.Problems, p.Error())
	}
	for _, g := range r.Gaps() {
		w.Gap(g)
	}
	w.setRecovery(&pb.Recovery{RecoveredMs: time.Now().UnixMilli(), DroppedBytes: uint64(rep.DroppedBytes), Problems: rep.Problems})
	if err := w.Close(); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("recover %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(out)); err != nil {
		return nil, err
	}
	if !o.Keep && path != out {
		if err := os.Remove(path); err != nil {
			return rep, fmt.Errorf("recovered into %s but could not remove %s: %w", out, path, err)
		}
	}
	return rep, nil
}

// CompactOptions configure Compact.
type CompactOptions struct {
	// Level is the zstd level; default 19 (the encoder's best).
	Level int
	// FrameSize is the raw size of a frame; default 64 MiB.
	FrameSize int64
	// WindowSize is the zstd window; default 32 MiB.
	WindowSize int
}

// CompactReport compares the file before and after.
type CompactReport struct {
	Path   string `json:"path"`
	Before int64  `json:"bytes_before"`
	After  int64  `json:"bytes_after"`
	Events uint64 `json:"events"`
}

// Compact recompresses a complete segment at a higher level with larger
// frames, streaming, and replaces it atomically only after reading the new
// file back and finding exactly the same records.
func Compact(path string, o CompactOptions) (*CompactReport, error) {
	if o.Level == 0 {
		o.Level = 19
	}
	if o.FrameSize == 0 {
		o.FrameSize = 64 << 20
	}
	if o.WindowSize == 0 {
		o.WindowSize = 32 << 20
	}
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.Format() != FormatSegment || !r.Complete() {
		return nil, fmt.Errorf("compact %s: not a complete segment (run `peertape recover` or `peertape import` first)", path)
	}
	gaps := r.Gaps()
	meta := proto.Clone(r.Meta()).(*pb.SegmentMeta)
	meta.CompressionLevel = int32(o.Level)
	tmp := tempSibling(path, "compacting")
	os.Remove(tmp + PartialSuffix)
	w, err := Create(tmp, WriterOptions{Level: o.Level, FrameSize: o.FrameSize, WindowSize: o.WindowSize, FrameAge: -1, FlushInterval: -1, Fsync: FsyncSegment, Meta: meta})
	if err != nil {
		return nil, err
	}
	d := newRecordDigest()
	err = copyInto(r, w, d)
	if err == nil && len(r.Problems()) > 0 {
		err = r.Problems()[0]
	}
	if err != nil {
		w.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("compact %s: %w", path, err)
	}
	for _, g := range gaps {
		w.Gap(g)
	}
	if err := w.Close(); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	got, problems, err := digestFile(tmp)
	if err == nil && len(problems) > 0 {
		err = problems[0]
	}
	if err == nil && got != d.sum() {
		err = fmt.Errorf("rewritten file does not hold the same records")
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("compact %s: verification failed, original kept: %w", path, err)
	}
	before, after := fileSize(path), fileSize(tmp)
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return &CompactReport{Path: path, Before: before, After: after, Events: d.n}, nil
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

// ImportOptions configure Import.
type ImportOptions struct {
	Node   string // default: the archive's file name before the first dot
	Writer WriterOptions
}

// Import converts a peer-observer archive into a segment in dir, named
// after the node and the archive's creation time. A truncated archive
// keeps every complete record; the report says what was dropped.
func Import(path, dir string, o ImportOptions) (*RecoverReport, error) {
	r, err := Open(path, ReadOptions{Node: o.Node})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if !r.Format().Upstream() {
		return nil, fmt.Errorf("import %s: already a peertape segment", path)
	}
	meta := proto.Clone(r.Meta()).(*pb.SegmentMeta)
	meta.Source = "import " + filepath.Base(path)
	meta.CompressionLevel = 0
	out := filepath.Join(dir, SegmentName(meta.Node, time.UnixMilli(meta.CreatedMs), 0))
	for seq := uint64(1); fileExists(out) || fileExists(out+PartialSuffix); seq++ {
		out = filepath.Join(dir, SegmentName(meta.Node, time.UnixMilli(meta.CreatedMs), seq))
	}
	wo := o.Writer
	wo.Meta = meta
	wo.FlushInterval = -1
	wo.Fsync = FsyncSegment
	w, err := Create(out, wo)
	if err != nil {
		return nil, err
	}
	if err := copyInto(r, w, nil); err != nil {
		w.Close()
		os.Remove(out)
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	rep := &RecoverReport{Input: path, Output: out, Events: r.scanned.events(), DroppedBytes: r.Dropped() + r.DroppedRaw()}
	for _, p := range r.Problems() {
		rep.Problems = append(rep.Problems, p.Error())
	}
	return rep, nil
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

var _ event.Sink = (*Writer)(nil)
