package record

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peertape/peertape/event"
)

// metrics are the recorder's own Prometheus metrics (peertape_record_*).
// NATS-side counters (disconnects, reconnects, slow-consumer drops,
// malformed payloads seen) belong to natsbus.Subscriber, which registers
// them on the same registerer.
type metrics struct {
	events        []prometheus.Counter // by kind
	eventBytes    []prometheus.Counter // by kind
	filtered      prometheus.Counter
	lowDataBytes  prometheus.Counter
	lowDataErrors prometheus.Counter
	rotated       prometheus.Counter
	deleted       *prometheus.CounterVec // reason
	deletedBytes  *prometheus.CounterVec // reason
	flushed       prometheus.Counter
	framesClosed  prometheus.Counter
	fsync         prometheus.Histogram
	writeErrors   prometheus.Counter
	malformed     *prometheus.CounterVec // stored
	gaps          prometheus.Counter
	gapDropped    prometheus.Counter
	recovered     *prometheus.CounterVec // result
	compactions   *prometheus.CounterVec // result
}

func newMetrics(reg prometheus.Registerer, r *Recorder) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry() // unobserved, but the code paths stay the same
	}
	m := &metrics{}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "peertape_record_" + name, Help: help})
		reg.MustRegister(c)
		return c
	}
	vec := func(name, help, label string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peertape_record_" + name, Help: help}, []string{label})
		reg.MustRegister(c)
		return c
	}
	byKind := func(name, help string) []prometheus.Counter {
		v := vec(name, help, "kind")
		out := make([]prometheus.Counter, len(event.Kinds()))
		for _, k := range event.Kinds() {
			out[k] = v.WithLabelValues(k.String())
		}
		return out
	}
	m.events = byKind("events_total", "Events written to segments, by kind.")
	m.eventBytes = byKind("event_bytes_total", "Bytes of event.Event protobuf written to segments (before compression), by kind.")
	m.filtered = counter("filtered_events_total", "Events left out by --only/--exclude.")
	m.lowDataBytes = counter("low_data_stripped_bytes_total", "Bytes of raw transactions and blocks removed by --low-data.")
	m.lowDataErrors = counter("low_data_errors_total", "Events --low-data could not decode; they were recorded unchanged.")
	m.rotated = counter("segments_rotated_total", "Segments finished because they reached --max-segment-size or --max-segment-age.")
	m.deleted = vec("retention_deleted_segments_total", "Finished segments deleted by retention, by reason (size or age).", "reason")
	m.deletedBytes = vec("retention_deleted_bytes_total", "Bytes of segments deleted by retention, by reason (size or age).", "reason")
	for _, reason := range []string{"size", "age"} {
		m.deleted.WithLabelValues(reason)
		m.deletedBytes.WithLabelValues(reason)
	}
	m.flushed = counter("flushes_total", "Flushes of the open frame (complete zstd blocks handed to the kernel).")
	m.framesClosed = counter("frames_closed_total", "Data frames closed.")
	m.fsync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "peertape_record_fsync_duration_seconds",
		Help:    "Time fsync of the active segment took.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs .. 26s
	})
	reg.MustRegister(m.fsync)
	m.writeErrors = counter("write_errors_total", "Failed writes to segment files (the recorder stops after finalizing).")
	m.malformed = vec("malformed_payloads_total", "Payloads that were not protobuf at all, by whether they were kept in malformed.jsonl.", "stored")
	m.malformed.WithLabelValues("true")
	m.malformed.WithLabelValues("false")
	m.gaps = counter("gaps_total", "Stretches in which a source could not deliver events (NATS outages, slow-consumer drops), recorded in the segment index.")
	m.gapDropped = counter("gap_dropped_events_total", "Events known to be lost, as counted in gaps (for example NATS slow-consumer drops).")
	m.recovered = vec("recovered_segments_total", "Leftover .partial segments finished at start, by result (ok or failed).", "result")
	m.recovered.WithLabelValues("ok")
	m.recovered.WithLabelValues("failed")
	m.compactions = vec("compactions_total", "Background compactions of rotated segments, by result (ok, failed or skipped).", "result")
	for _, res := range []string{"ok", "failed", "skipped"} {
		m.compactions.WithLabelValues(res)
	}

	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "peertape_record_seconds_since_last_event",
		Help: "Wall-clock seconds since the last event was written (since start when none was).",
	}, func() float64 { return time.Since(r.lastEventWall()).Seconds() }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "peertape_record_active_segment_bytes",
		Help: "Compressed bytes of the segment being written.",
	}, func() float64 { return float64(r.activeBytes()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "peertape_record_free_bytes",
		Help: "Bytes available in the file system of the recording directory.",
	}, func() float64 {
		n, err := freeBytes(r.o.Dir)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	return m
}
