package format

import (
	"fmt"

	"github.com/peertape/peertape/proto/pb"
)

// VerifyReport lists what Verify found. The file is sound when Problems is
// empty.
type VerifyReport struct {
	Path     string   `json:"path"`
	Format   string   `json:"format"`
	Events   uint64   `json:"events"`
	Frames   int      `json:"frames"`
	Problems []string `json:"problems"`
}

// OK reports whether no problem was found.
func (v *VerifyReport) OK() bool { return len(v.Problems) == 0 }

// Verify decodes every frame of the file, checking zstd content checksums,
// record framing and protobuf well-formedness; for segments it also checks
// the metadata, index and trailer checksums and that the index matches the
// data exactly. A .partial or torn file is reported as unfinished.
func Verify(path string) (*VerifyReport, error) {
	// First the stored index as written ...
	r0, err := Open(path)
	if err != nil {
		return nil, err
	}
	stored := r0.Index()
	complete := r0.Complete()
	format := r0.Format()
	early := r0.Problems()
	r0.Close()

	// ... then a full scan that ignores it.
	r, err := Open(path, ReadOptions{NoIndex: true})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for r.Next() {
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	rep := &VerifyReport{Path: path, Format: formatID(format)}
	for _, p := range early {
		rep.Problems = append(rep.Problems, p.Error())
	}
	for _, p := range r.Problems() {
		rep.Problems = append(rep.Problems, p.Error())
	}
	scanned := r.ScannedIndex()
	rep.Events = scanned.Events
	rep.Frames = len(scanned.Frames)
	if format.Upstream() {
		rep.Frames = r.upstreamFrames()
	}
	if d := r.Dropped() + r.DroppedRaw(); d > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s: torn tail: %d bytes cannot be read", path, d))
	}
	switch {
	case format.Upstream():
		if !r.Complete() && r.Dropped()+r.DroppedRaw() == 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: archive is unfinished", path))
		}
	case !complete:
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s: no valid index and trailer (unfinished .partial or damaged); `peertape recover` repairs it", path))
	default:
		for _, p := range compareIndex(stored, scanned) {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: index: %s", path, p))
		}
		if r.headerLen == 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: first data frame does not start with an ArchiveHeader", path))
		}
	}
	return rep, nil
}

// compareIndex lists differences between the stored index and the one
// rebuilt from the data.
func compareIndex(stored, scanned *pb.SegmentIndex) []string {
	var out []string
	if len(stored.Frames) != len(scanned.Frames) {
		return append(out, fmt.Sprintf("lists %d frames, the file holds %d", len(stored.Frames), len(scanned.Frames)))
	}
	// Events lost in a damaged frame renumber every later one; shift
	// carries that loss forward so only the damaged frame is reported.
	var shift int64
	for i, a := range stored.Frames {
		b := scanned.Frames[i]
		firstMoved := int64(a.FirstEvent)-int64(b.FirstEvent) != shift
		shift += int64(a.Events) - int64(b.Events)
		switch {
		case a.Offset != b.Offset || a.CompressedLen != b.CompressedLen:
			out = append(out, fmt.Sprintf("frame %d: stored at %d+%d, found at %d+%d", i, a.Offset, a.CompressedLen, b.Offset, b.CompressedLen))
		case a.RawLen != b.RawLen:
			out = append(out, fmt.Sprintf("frame %d: stored raw length %d, decoded %d", i, a.RawLen, b.RawLen))
		case a.Events != b.Events || firstMoved:
			out = append(out, fmt.Sprintf("frame %d: stored %d events from #%d, decoded %d from #%d", i, a.Events, a.FirstEvent, b.Events, b.FirstEvent))
		case a.FirstTimeMs != b.FirstTimeMs || a.LastTimeMs != b.LastTimeMs || a.MinTimeMs != b.MinTimeMs || a.MaxTimeMs != b.MaxTimeMs:
			out = append(out, fmt.Sprintf("frame %d: stored times differ from the records", i))
		case !sameCounts(a.Kinds, b.Kinds):
			out = append(out, fmt.Sprintf("frame %d: stored kind counts differ from the records", i))
		}
	}
	if stored.Events != scanned.Events || stored.RawBytes != scanned.RawBytes {
		out = append(out, fmt.Sprintf("totals: stored %d events/%d raw bytes, decoded %d/%d", stored.Events, stored.RawBytes, scanned.Events, scanned.RawBytes))
	}
	framesDiffer := len(out) > 0
	if !framesDiffer && (!sameCounts(stored.Kinds, scanned.Kinds) || !sameCounts(stored.Commands, scanned.Commands)) {
		out = append(out, "totals: kind or message type counts differ from the records")
	}
	if stored.HeaderLen != scanned.HeaderLen {
		out = append(out, fmt.Sprintf("header length stored %d, found %d", stored.HeaderLen, scanned.HeaderLen))
	}
	return out
}

func sameCounts(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
