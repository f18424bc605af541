package log

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the extractor's own, prefixed peertape_log_.
type metrics struct {
	lines       prometheus.Counter
	bytes       prometheus.Counter
	events      *prometheus.CounterVec // {matcher}: a matcher name, unknown or unparsed
	truncated   prometheus.Counter
	dropped     prometheus.Counter
	rotations   prometheus.Counter
	truncations prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := promauto.With(prometheus.WrapRegistererWithPrefix("peertape_log_", reg))
	return &metrics{
		lines: f.NewCounter(prometheus.CounterOpts{Name: "lines_total", Help: "Lines read."}),
		bytes: f.NewCounter(prometheus.CounterOpts{Name: "bytes_total", Help: "Bytes of lines read."}),
		events: f.NewCounterVec(prometheus.CounterOpts{Name: "events_total",
			Help: "Events by the matcher that recognised the line; unknown: grammar fine, no matcher; unparsed: no timestamp (kept whole)."},
			[]string{"matcher"}),
		truncated: f.NewCounter(prometheus.CounterOpts{Name: "truncated_lines_total",
			Help: "Lines longer than the maximum, kept cut."}),
		dropped: f.NewCounter(prometheus.CounterOpts{Name: "dropped_lines_total",
			Help: "FIFO or stdin lines dropped because the sink fell a whole buffer behind."}),
		rotations: f.NewCounter(prometheus.CounterOpts{Name: "rotations_total",
			Help: "Times the followed file was replaced by a new one."}),
		truncations: f.NewCounter(prometheus.CounterOpts{Name: "truncations_total",
			Help: "Times the followed file shrank and was read again from its start."}),
	}
}
