package analyze

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Content types the handler answers with.
const (
	ContentTypeText        = "text/plain; version=0.0.4; charset=utf-8"
	ContentTypeOpenMetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8"
)

// Gather returns the current metric families, sorted by name, with the
// windows evaluated at the watermark.
func (e *Engine) Gather() ([]*dto.MetricFamily, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gatherAt(e.now)
}

// gatherAt gathers with windows evaluated at t; the caller holds e.mu.
// Collecting changes nothing, so gathering at any time leaves the state
// as it was.
func (e *Engine) gatherAt(t int64) ([]*dto.MetricFamily, error) {
	saved := e.evalNow
	e.evalNow = t
	defer func() { e.evalNow = saved }()
	mfs, err := e.reg.Gather()
	if err != nil {
		return mfs, fmt.Errorf("gather metrics: %w", err)
	}
	return mfs, nil
}

// WriteText writes the current exposition in the Prometheus text format
// (version 0.0.4). Two engines fed the same events write the same bytes.
func (e *Engine) WriteText(w io.Writer) error {
	mfs, err := e.Gather()
	if err != nil {
		return err
	}
	return writeText(w, mfs)
}

func writeText(w io.Writer, mfs []*dto.MetricFamily) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(bw, mf); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

// WriteOpenMetrics writes the current exposition in the OpenMetrics text
// format, ending with "# EOF". See the Sampler for how counters without a
// _total suffix are typed.
func (e *Engine) WriteOpenMetrics(w io.Writer) error {
	mfs, err := e.Gather()
	if err != nil {
		return err
	}
	return writeOpenMetrics(w, mfs)
}

func writeOpenMetrics(w io.Writer, mfs []*dto.MetricFamily) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	om := &omWriter{w: bw}
	for _, mf := range mfs {
		fam := newOMFamily(mf)
		om.header(fam)
		for _, m := range mf.Metric {
			s := newOMSeries(fam, m)
			om.point(fam, s, metricValues(fam.typ, m), 0, false)
		}
	}
	bw.WriteString("# EOF\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

// HandlerOptions configures Engine.Handler.
type HandlerOptions struct {
	// Extra is gathered after the engine's registry and served with it:
	// process and Go runtime metrics, the NATS subscriber's metrics —
	// whatever depends on more than the events. Names must not collide
	// with the engine's.
	Extra prometheus.Gatherer
	// Logger receives errors; default slog.Default().
	Logger *slog.Logger
}

// Handler serves the exposition on any path (mount it at /metrics). It
// negotiates the format with the Accept header: OpenMetrics when asked
// for, else the Prometheus text format.
func (e *Engine) Handler(o HandlerOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mfs, err := e.Gather()
		if err == nil && o.Extra != nil {
			var extra []*dto.MetricFamily
			extra, err = o.Extra.Gather()
			mfs = mergeFamilies(mfs, extra)
		}
		if err != nil {
			o.Logger.Error("gather metrics", "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var buf bytes.Buffer
		ct := ContentTypeText
		if expfmt.NegotiateIncludingOpenMetrics(r.Header).FormatType() == expfmt.TypeOpenMetrics {
			ct = ContentTypeOpenMetrics
			err = writeOpenMetrics(&buf, mfs)
		} else {
			err = writeText(&buf, mfs)
		}
		if err != nil {
			o.Logger.Error("encode metrics", "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		if r.Method != http.MethodHead {
			w.Write(buf.Bytes())
		}
	})
}

// mergeFamilies merges two sorted family lists into one sorted by name;
// a family present in both keeps the first.
func mergeFamilies(a, b []*dto.MetricFamily) []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(a)+len(b))
	seen := map[string]bool{}
	for _, mf := range a {
		seen[mf.GetName()] = true
		out = append(out, mf)
	}
	for _, mf := range b {
		if !seen[mf.GetName()] {
			out = append(out, mf)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// omFamily is a metric family as the OpenMetrics writer needs it.
type omFamily struct {
	name   string // as registered (the text format's name)
	help   string
	typ    dto.MetricType
	omType string // the OpenMetrics TYPE
	omName string // the name on the TYPE and HELP lines
}

// newOMFamily decides how a family is typed in OpenMetrics. OpenMetrics
// requires a counter's samples to end in _total; peer-observer's
// counters do not (peerobserver_conn_inbound), and renaming them would
// store them under other series names than a text-format scrape does,
// breaking the dashboards. So counters without the suffix are typed
// "unknown", which keeps their names; counters with it are counters.
func newOMFamily(mf *dto.MetricFamily) *omFamily {
	f := &omFamily{name: mf.GetName(), help: mf.GetHelp(), typ: mf.GetType(), omName: mf.GetName()}
	switch f.typ {
	case dto.MetricType_COUNTER:
		if base, ok := strings.CutSuffix(f.name, "_total"); ok {
			f.omType, f.omName = "counter", base
		} else {
			f.omType = "unknown"
		}
	case dto.MetricType_GAUGE:
		f.omType = "gauge"
	case dto.MetricType_HISTOGRAM:
		f.omType = "histogram"
	case dto.MetricType_SUMMARY:
		f.omType = "summary"
	default:
		f.omType = "unknown"
	}
	return f
}

// omSeries is one labelled series: its rendered labels and, for
// histograms and summaries, the bucket bounds or quantiles.
type omSeries struct {
	labels string    // `a="x",b="y"`, sorted by name
	bounds []float64 // histogram upper bounds (without +Inf), summary quantiles
}

func newOMSeries(f *omFamily, m *dto.Metric) *omSeries {
	s := &omSeries{labels: renderLabels(m.GetLabel())}
	switch f.typ {
	case dto.MetricType_HISTOGRAM:
		for _, b := range m.GetHistogram().GetBucket() {
			if !math.IsInf(b.GetUpperBound(), 1) {
				s.bounds = append(s.bounds, b.GetUpperBound())
			}
		}
	case dto.MetricType_SUMMARY:
		for _, q := range m.GetSummary().GetQuantile() {
			s.bounds = append(s.bounds, q.GetQuantile())
		}
	}
	return s
}

// metricValues flattens a metric's values: one value for counters,
// gauges and untyped; the cumulative bucket counts (as in bounds), count
// and sum for histograms; the quantile values, count and sum for
// summaries.
func metricValues(typ dto.MetricType, m *dto.Metric) []float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return []float64{m.GetCounter().GetValue()}
	case dto.MetricType_GAUGE:
		return []float64{m.GetGauge().GetValue()}
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		v := make([]float64, 0, len(h.GetBucket())+2)
		for _, b := range h.GetBucket() {
			if !math.IsInf(b.GetUpperBound(), 1) {
				v = append(v, float64(b.GetCumulativeCount()))
			}
		}
		return append(v, float64(h.GetSampleCount()), h.GetSampleSum())
	case dto.MetricType_SUMMARY:
		sm := m.GetSummary()
		v := make([]float64, 0, len(sm.GetQuantile())+2)
		for _, q := range sm.GetQuantile() {
			v = append(v, q.GetValue())
		}
		return append(v, float64(sm.GetSampleCount()), sm.GetSampleSum())
	}
	return []float64{m.GetUntyped().GetValue()}
}

func renderLabels(lps []*dto.LabelPair) string {
	if len(lps) == 0 {
		return ""
	}
	lps = append([]*dto.LabelPair(nil), lps...)
	sort.Slice(lps, func(i, j int) bool { return lps[i].GetName() < lps[j].GetName() })
	var b strings.Builder
	for i, lp := range lps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(lp.GetName())
		b.WriteString(`="`)
		escapeLabel(&b, lp.GetValue())
		b.WriteByte('"')
	}
	return b.String()
}

func escapeLabel(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
}

// omWriter writes OpenMetrics families and points.
type omWriter struct {
	w   *bufio.Writer
	num []byte
}

func (o *omWriter) header(f *omFamily) {
	o.w.WriteString("# HELP ")
	o.w.WriteString(f.omName)
	o.w.WriteByte(' ')
	for i := 0; i < len(f.help); i++ {
		switch c := f.help[i]; c {
		case '\\':
			o.w.WriteString(`\\`)
		case '"':
			o.w.WriteString(`\"`)
		case '\n':
			o.w.WriteString(`\n`)
		default:
			o.w.WriteByte(c)
		}
	}
	o.w.WriteString("\n# TYPE ")
	o.w.WriteString(f.omName)
	o.w.WriteByte(' ')
	o.w.WriteString(f.omType)
	o.w.WriteByte('\n')
}

// point writes one point of a series: one line, or the bucket, count and
// sum lines of a histogram or summary, with the timestamp ts (ms) when
// hasTS.
func (o *omWriter) point(f *omFamily, s *omSeries, vals []float64, ts int64, hasTS bool) {
	switch f.typ {
	case dto.MetricType_HISTOGRAM, dto.MetricType_SUMMARY:
		n := len(s.bounds)
		if len(vals) != n+2 {
			return
		}
		extra, suffix := "quantile", ""
		if f.typ == dto.MetricType_HISTOGRAM {
			extra, suffix = "le", "_bucket"
		}
		for i, b := range s.bounds {
			o.line(f.name+suffix, s.labels, extra, omFloat(b), vals[i], ts, hasTS)
		}
		if f.typ == dto.MetricType_HISTOGRAM {
			o.line(f.name+"_bucket", s.labels, "le", "+Inf", vals[n], ts, hasTS)
		}
		o.line(f.name+"_count", s.labels, "", "", vals[n], ts, hasTS)
		o.line(f.name+"_sum", s.labels, "", "", vals[n+1], ts, hasTS)
	default:
		if len(vals) != 1 {
			return
		}
		o.line(f.name, s.labels, "", "", vals[0], ts, hasTS)
	}
}

func (o *omWriter) line(name, labels, extraName, extraValue string, v float64, ts int64, hasTS bool) {
	w := o.w
	w.WriteString(name)
	if labels != "" || extraName != "" {
		w.WriteByte('{')
		w.WriteString(labels)
		if extraName != "" {
			if labels != "" {
				w.WriteByte(',')
			}
			w.WriteString(extraName)
			w.WriteString(`="`)
			w.WriteString(extraValue)
			w.WriteByte('"')
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(omFloat(v))
	if hasTS {
		w.WriteByte(' ')
		o.num = strconv.AppendInt(o.num[:0], floorDiv(ts, 1000), 10)
		ms := ts - floorDiv(ts, 1000)*1000
		o.num = append(o.num, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
		w.Write(o.num)
	}
	w.WriteByte('\n')
}

// omFloat renders a number as OpenMetrics wants it: integral values with
// ".0", infinities as +Inf/-Inf, NaN as NaN.
func omFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}
