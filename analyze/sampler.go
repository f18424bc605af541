package analyze

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// SamplerOptions configures a Sampler. Zero fields take the defaults.
type SamplerOptions struct {
	// Interval between samples, in event time. Default DefaultSampleInterval.
	Interval time.Duration
	// TempDir holds the spill file; default os.TempDir().
	TempDir string
	// MemoryLimit bounds the memory used to regroup samples by series when
	// the file is written; beyond it the spill file is read in several
	// passes. Default DefaultSamplerMemory.
	MemoryLimit int64
}

// Defaults for SamplerOptions.
const (
	DefaultSampleInterval = 15 * time.Second
	DefaultSamplerMemory  = 256 << 20
)

// Sampler writes every metric of an engine at each Interval boundary of
// event time into an OpenMetrics file with timestamps, the input of
// `promtool tsdb create-blocks-from openmetrics`, so an archive becomes
// Prometheus history.
//
// Boundaries are multiples of Interval since the epoch. The sample at
// boundary b holds the state after every event earlier than b, with
// windows evaluated at b; it is taken when the first event at or after b
// arrives (or AdvanceTo passes b), so the samples depend only on the
// events, never on the replay's pace. Close adds a last sample at the
// latest event time + 1 ms, so the file ends with the final state.
// Sampling reads the engine without changing it.
//
// OpenMetrics wants each metric family's samples together, and each
// series' points in time order, but a replay produces them interval by
// interval. So samples go to a compact spill file first (an unlinked
// temporary file: values XOR-ed with the series' previous value, so an
// unchanged value costs one byte), and Close regroups them by series in as
// many sequential passes over the spill as MemoryLimit needs. Counters
// without a _total suffix (peer-observer's) are typed "unknown" so that
// their series keep the names a text-format scrape gives them.
//
// While the event time does not advance (a replay's second --loop pass, a
// clock that went back), no samples are taken: timestamps only increase.
type Sampler struct {
	e        *Engine
	w        io.Writer
	interval int64
	memLimit int64

	begun       bool
	next        int64 // next boundary to sample
	last        int64 // time of the latest sample written
	lastVersion uint64
	haveSample  bool
	samples     int

	fams   map[string]*sFamily
	series []*sSeries
	prev   [][]float64 // last values by series id, for XOR

	spill  *os.File
	sw     *bufio.Writer
	rec    []byte
	prevTS int64
	closed bool
	err    error
}

type sFamily struct {
	om     *omFamily
	series map[string]uint32 // labels -> id
}

type sSeries struct {
	fam    *sFamily
	om     *omSeries
	nvals  int
	points int
}

// NewSampler attaches a sampler writing to w. Samples start with the next
// boundary after the engine's first event (or after its watermark, if it
// has consumed events already). The caller must Close it to write the
// file; closing does not close w.
func (e *Engine) NewSampler(w io.Writer, o SamplerOptions) (*Sampler, error) {
	if o.Interval == 0 {
		o.Interval = DefaultSampleInterval
	}
	if o.Interval < time.Millisecond {
		return nil, fmt.Errorf("openmetrics sampler: interval %v is below 1ms", o.Interval)
	}
	if o.MemoryLimit <= 0 {
		o.MemoryLimit = DefaultSamplerMemory
	}
	f, err := os.CreateTemp(o.TempDir, "peertape-openmetrics-*.spill")
	if err != nil {
		return nil, fmt.Errorf("openmetrics sampler: %w", err)
	}
	// Unlinked at once: the space is freed however the process ends.
	os.Remove(f.Name())
	s := &Sampler{
		e: e, w: w, interval: o.Interval.Milliseconds(), memLimit: o.MemoryLimit,
		fams: map[string]*sFamily{}, spill: f, sw: bufio.NewWriterSize(f, 256<<10),
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		s.begin(e.now)
	}
	e.samplers = append(e.samplers, s)
	return s, nil
}

func (s *Sampler) begin(t int64) {
	s.begun = true
	s.next = (floorDiv(t, s.interval) + 1) * s.interval
}

// AdvanceTo tells the engine's samplers that event time reached t (ms)
// before the event that carries it arrives, as a replay's Advance hook
// does; it takes the samples of the boundaries up to t. It changes nothing
// else: the watermark moves only with events.
func (e *Engine) AdvanceTo(t int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started || t <= e.now {
		return e.samplerError
	}
	e.advanceSamplers(t)
	return e.samplerError
}

// advanceSamplers samples every boundary up to t; the caller holds e.mu.
func (e *Engine) advanceSamplers(t int64) {
	for _, s := range e.samplers {
		if err := s.advance(t); err != nil && e.samplerError == nil {
			e.samplerError = err
		}
	}
}

// windowHorizon is the longest trailing window any analyzer keeps (plus
// one bucket): past it, a sample equals the previous one.
const windowHorizon = hourMs + minuteMs

func (s *Sampler) advance(t int64) error {
	if s.closed || s.err != nil || !s.begun {
		return s.err
	}
	for s.next <= t {
		b := s.next
		s.next += s.interval
		if s.haveSample && s.lastVersion == s.e.version && b-s.e.now > windowHorizon && s.last-s.e.now > windowHorizon {
			// Nothing changed since the previous sample (no event, every
			// window empty): repeat it.
			if err := s.repeat(b); err != nil {
				return err
			}
			continue
		}
		if err := s.sample(b); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sampler) fail(err error) error {
	if s.err == nil {
		s.err = fmt.Errorf("openmetrics sampler: %w", err)
	}
	return s.err
}

// sample gathers the engine at t and appends a record to the spill.
func (s *Sampler) sample(t int64) error {
	if s.haveSample && t <= s.last {
		return nil
	}
	mfs, err := s.e.gatherAt(t)
	if err != nil {
		return s.fail(err)
	}
	type present struct {
		id   uint32
		vals []float64
	}
	var cur []present
	for _, mf := range mfs {
		fam := s.fams[mf.GetName()]
		if fam == nil {
			fam = &sFamily{om: newOMFamily(mf), series: map[string]uint32{}}
			s.fams[mf.GetName()] = fam
		}
		for _, m := range mf.Metric {
			key := renderLabels(m.GetLabel())
			id, ok := fam.series[key]
			vals := metricValues(fam.om.typ, m)
			if !ok {
				id = uint32(len(s.series))
				fam.series[key] = id
				om := newOMSeries(fam.om, m)
				s.series = append(s.series, &sSeries{fam: fam, om: om, nvals: len(vals)})
				s.prev = append(s.prev, make([]float64, len(vals)))
			}
			if len(vals) != s.series[id].nvals {
				continue // bucket layout changed: cannot happen with fixed buckets
			}
			cur = append(cur, present{id, vals})
		}
	}
	slices.SortFunc(cur, func(a, b present) int { return int(a.id) - int(b.id) })
	r := s.rec[:0]
	r = binary.AppendUvarint(r, uint64(t-s.prevTS))
	r = binary.AppendUvarint(r, uint64(len(cur)))
	prevID := uint32(0)
	for i, p := range cur {
		if i == 0 {
			r = binary.AppendUvarint(r, uint64(p.id))
		} else {
			r = binary.AppendUvarint(r, uint64(p.id-prevID))
		}
		prevID = p.id
		pv := s.prev[p.id]
		for j, v := range p.vals {
			r = binary.AppendUvarint(r, math.Float64bits(v)^math.Float64bits(pv[j]))
			pv[j] = v
		}
		s.series[p.id].points++
	}
	s.rec = r
	return s.writeRecord(t)
}

// repeat writes the previous record again at t: every value unchanged,
// so each XOR is 0.
func (s *Sampler) repeat(t int64) error {
	ids, err := s.recordIDs()
	if err != nil {
		return s.fail(err)
	}
	r := s.rec[:0]
	r = binary.AppendUvarint(r, uint64(t-s.prevTS))
	r = binary.AppendUvarint(r, uint64(len(ids)))
	for i, id := range ids {
		if i == 0 {
			r = binary.AppendUvarint(r, uint64(id))
		} else {
			r = binary.AppendUvarint(r, uint64(id-ids[i-1]))
		}
		for range s.series[id].nvals {
			r = append(r, 0)
		}
		s.series[id].points++
	}
	s.rec = r
	return s.writeRecord(t)
}

// recordIDs decodes the series ids of the record in s.rec.
func (s *Sampler) recordIDs() ([]uint32, error) {
	b := s.rec
	_, n := binary.Uvarint(b)
	b = b[n:]
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("corrupt record")
	}
	b = b[n:]
	ids := make([]uint32, 0, count)
	var id uint32
	for i := uint64(0); i < count; i++ {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("corrupt record")
		}
		b = b[n:]
		if i == 0 {
			id = uint32(d)
		} else {
			id += uint32(d)
		}
		ids = append(ids, id)
		for range s.series[id].nvals {
			_, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errors.New("corrupt record")
			}
			b = b[n:]
		}
	}
	return ids, nil
}

func (s *Sampler) writeRecord(t int64) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(s.rec)))
	if _, err := s.sw.Write(hdr[:n]); err != nil {
		return s.fail(err)
	}
	if _, err := s.sw.Write(s.rec); err != nil {
		return s.fail(err)
	}
	s.prevTS, s.last, s.haveSample, s.lastVersion = t, t, true, s.e.version
	s.samples++
	return nil
}

// Samples returns the number of samples taken so far.
func (s *Sampler) Samples() int {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	return s.samples
}

// Close takes the samples up to the latest event time + 1 ms, the last
// one there, writes the OpenMetrics file to w (ending with "# EOF") and
// detaches the sampler. It does not close w.
func (s *Sampler) Close() error {
	s.e.mu.Lock()
	if s.closed {
		s.e.mu.Unlock()
		return s.err
	}
	if s.begun && s.err == nil {
		end := s.e.now + 1
		if err := s.advance(end); err == nil {
			s.sample(end)
		}
	}
	s.closed = true
	s.e.samplers = slices.DeleteFunc(s.e.samplers, func(x *Sampler) bool { return x == s })
	s.e.mu.Unlock()

	defer s.spill.Close()
	if s.err != nil {
		return s.err
	}
	if err := s.sw.Flush(); err != nil {
		return s.fail(err)
	}
	if err := s.writeOut(); err != nil {
		return s.fail(err)
	}
	return nil
}

// writeOut regroups the spill by series and writes the file.
func (s *Sampler) writeOut() error {
	order := make([]uint32, len(s.series))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int {
		sa, sb := s.series[a], s.series[b]
		if c := strings.Compare(sa.fam.om.name, sb.fam.om.name); c != 0 {
			return c
		}
		return strings.Compare(sa.om.labels, sb.om.labels)
	})
	bw := bufio.NewWriterSize(s.w, 256<<10)
	om := &omWriter{w: bw}
	var lastFam *sFamily
	for start := 0; start < len(order); {
		// One group: as many series as fit the memory limit (at least one).
		end, cost := start, int64(0)
		for end < len(order) {
			sr := s.series[order[end]]
			c := int64(sr.points) * int64(8+8*sr.nvals)
			if end > start && cost+c > s.memLimit {
				break
			}
			cost += c
			end++
		}
		group := order[start:end]
		pts, err := s.readGroup(group)
		if err != nil {
			return err
		}
		for gi, id := range group {
			sr := s.series[id]
			if sr.fam != lastFam {
				om.header(sr.fam.om)
				lastFam = sr.fam
			}
			p := pts[gi]
			for k, ts := range p.ts {
				om.point(sr.fam.om, sr.om, p.vals[k*sr.nvals:(k+1)*sr.nvals], ts, true)
			}
		}
		start = end
	}
	bw.WriteString("# EOF\n")
	return bw.Flush()
}

type seriesPoints struct {
	ts   []int64
	vals []float64
}

// readGroup reads the whole spill once and returns the points of the
// series in group (in group order).
func (s *Sampler) readGroup(group []uint32) ([]seriesPoints, error) {
	slot := make(map[uint32]int, len(group))
	out := make([]seriesPoints, len(group))
	for i, id := range group {
		slot[id] = i
		sr := s.series[id]
		out[i] = seriesPoints{ts: make([]int64, 0, sr.points), vals: make([]float64, 0, sr.points*sr.nvals)}
	}
	last := make([][]float64, len(s.series))
	for i, sr := range s.series {
		last[i] = make([]float64, sr.nvals)
	}
	if _, err := s.spill.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(s.spill, 256<<10)
	var ts int64
	var rec []byte
	for {
		n, err := binary.ReadUvarint(br)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read spill: %w", err)
		}
		rec = slices.Grow(rec[:0], int(n))[:n]
		if _, err := io.ReadFull(br, rec); err != nil {
			return nil, fmt.Errorf("read spill: %w", err)
		}
		b := rec
		next := func() (uint64, error) {
			v, k := binary.Uvarint(b)
			if k <= 0 {
				return 0, errors.New("corrupt spill record")
			}
			b = b[k:]
			return v, nil
		}
		d, err := next()
		if err != nil {
			return nil, err
		}
		ts += int64(d)
		count, err := next()
		if err != nil {
			return nil, err
		}
		var id uint32
		for i := uint64(0); i < count; i++ {
			x, err := next()
			if err != nil {
				return nil, err
			}
			if i == 0 {
				id = uint32(x)
			} else {
				id += uint32(x)
			}
			if int(id) >= len(s.series) {
				return nil, errors.New("corrupt spill record")
			}
			lv := last[id]
			for j := range lv {
				x, err := next()
				if err != nil {
					return nil, err
				}
				lv[j] = math.Float64frombits(math.Float64bits(lv[j]) ^ x)
			}
			if gi, ok := slot[id]; ok {
				out[gi].ts = append(out[gi].ts, ts)
				out[gi].vals = append(out[gi].vals, lv...)
			}
		}
	}
}
