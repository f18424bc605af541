package format

import (
	"fmt"
	"sort"

	"github.com/peertape/peertape/proto/pb"
)

// Summary describes one file for `peertape info`. Its JSON form is stable
// and documented: keys are only ever added.
type Summary struct {
	Path                  string            `json:"path"`
	Format                string            `json:"format"` // "peertape-v1", "peer-observer", "peer-observer-uncompressed"
	Node                  string            `json:"node"`
	Implementation        string            `json:"implementation,omitempty"`
	ImplementationVersion string            `json:"implementation_version,omitempty"`
	Network               string            `json:"network,omitempty"`
	Source                string            `json:"source,omitempty"`
	Recorder              string            `json:"recorder,omitempty"`
	CreatedMs             int64             `json:"created_ms"`
	Complete              bool              `json:"complete"`
	Status                string            `json:"status"` // complete, partial, torn, damaged
	Events                uint64            `json:"events"`
	FirstEventTimeMs      int64             `json:"first_event_time_ms"`
	LastEventTimeMs       int64             `json:"last_event_time_ms"`
	MinEventTimeMs        int64             `json:"min_event_time_ms"`
	MaxEventTimeMs        int64             `json:"max_event_time_ms"`
	DurationMs            int64             `json:"duration_ms"`
	BytesCompressed       int64             `json:"bytes_compressed"`
	BytesRaw              uint64            `json:"bytes_raw"`
	BytesPerEvent         float64           `json:"bytes_per_event"`
	CompressionRatio      float64           `json:"compression_ratio"`
	CompressionLevel      int32             `json:"compression_level,omitempty"`
	Frames                int               `json:"frames"`
	Kinds                 map[string]uint64 `json:"kinds"`
	Commands              map[string]uint64 `json:"commands,omitempty"`
	LowData               bool              `json:"low_data"`
	Sanitized             bool              `json:"sanitized"`
	Synthetic             bool              `json:"synthetic"`
	Sanitization          *pb.Sanitization  `json:"sanitization,omitempty"`
	SyntheticInfo         *pb.Synthetic     `json:"synthetic_info,omitempty"`
	Filter                *pb.Filter        `json:"filter,omitempty"`
	Gaps                  []*pb.Gap         `json:"gaps,omitempty"`
	DroppedBytes          int64             `json:"dropped_bytes"`
	Problems              []string          `json:"problems,omitempty"`
}

// Summarize describes the file at path. A complete segment is described
// from its index without decompressing; anything else is read through.
func Summarize(path string) (*Summary, error) {
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	idx := r.Index()
	if idx == nil {
		for r.Next() {
		}
		if err := r.Err(); err != nil {
			return nil, err
		}
		idx = r.ScannedIndex()
		if r.format.Upstream() {
			idx.RawBytes = uint64(r.rawCount.n)
		}
	}
	m := r.Meta()
	s := &Summary{
		Path:                  path,
		Format:                formatID(r.Format()),
		Node:                  m.Node,
		Implementation:        m.Implementation,
		ImplementationVersion: m.ImplementationVersion,
		Network:               m.Network,
		Source:                m.Source,
		Recorder:              m.Recorder,
		CreatedMs:             m.CreatedMs,
		Complete:              r.Complete(),
		Events:                idx.Events,
		FirstEventTimeMs:      idx.FirstTimeMs,
		LastEventTimeMs:       idx.LastTimeMs,
		MinEventTimeMs:        idx.MinTimeMs,
		MaxEventTimeMs:        idx.MaxTimeMs,
		DurationMs:            idx.MaxTimeMs - idx.MinTimeMs,
		BytesCompressed:       r.Size(),
		BytesRaw:              idx.RawBytes,
		CompressionLevel:      m.CompressionLevel,
		Frames:                len(idx.Frames),
		Kinds:                 idx.Kinds,
		Commands:              idx.Commands,
		LowData:               m.LowData || r.Header().GetLowData(),
		Sanitized:             m.Sanitization != nil,
		Synthetic:             m.Synthetic != nil,
		Sanitization:          m.Sanitization,
		SyntheticInfo:         m.Synthetic,
		Filter:                m.Filter,
		Gaps:                  r.Gaps(),
		DroppedBytes:          r.Dropped() + r.DroppedRaw(),
	}
	if r.format.Upstream() {
		s.Frames = r.upstreamFrames()
	}
	if s.Kinds == nil {
		s.Kinds = map[string]uint64{}
	}
	if s.Events > 0 {
		s.BytesPerEvent = float64(s.BytesCompressed) / float64(s.Events)
	}
	if s.BytesCompressed > 0 {
		s.CompressionRatio = float64(s.BytesRaw) / float64(s.BytesCompressed)
	}
	for _, p := range r.Problems() {
		s.Problems = append(s.Problems, p.Error())
	}
	switch {
	case len(s.Problems) > 0:
		s.Status = "damaged"
	case s.Complete:
		s.Status = "complete"
	case s.DroppedBytes > 0:
		s.Status = "torn"
	default:
		s.Status = "partial"
	}
	return s, nil
}

func formatID(f Format) string {
	switch f {
	case FormatSegment:
		return fmt.Sprintf("peertape-v%d", FormatVersion)
	case FormatUpstream:
		return "peer-observer"
	case FormatUpstreamRaw:
		return "peer-observer-uncompressed"
	}
	return "unknown"
}

// SortedKeys returns the keys of m ordered by descending count, then name.
func SortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
