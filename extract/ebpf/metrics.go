package ebpf

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the extractor's own Prometheus metrics, prefixed
// peertape_ebpf_. Losses and errors are counters so that alerts can fire
// on any increase.
type metrics struct {
	events        *prometheus.CounterVec // {tracepoint}
	lost          *prometheus.CounterVec // {tracepoint, reason}
	recordErrors  *prometheus.CounterVec // {tracepoint, reason}
	decodeErrors  *prometheus.CounterVec // {command}
	truncated     *prometheus.CounterVec // {tracepoint, field}
	attached      prometheus.Gauge
	attaches      prometheus.Counter
	tracedPID     prometheus.Gauge
	probes        prometheus.Gauge
	ringSize      *prometheus.GaugeVec // {ring}
	ringPending   *prometheus.GaugeVec // {ring}
	payloadBytes  prometheus.Counter
	lastEventTime prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(prometheus.WrapRegistererWithPrefix("peertape_ebpf_", reg))
	return &metrics{
		events: f.NewCounterVec(prometheus.CounterOpts{Name: "events_total",
			Help: "Events delivered to the sink, by tracepoint."}, []string{"tracepoint"}),
		lost: f.NewCounterVec(prometheus.CounterOpts{Name: "lost_total",
			Help: "Probe hits that produced no record in BPF: ring_full (user space too slow, raise the ring size), no_spec, bad_arg."},
			[]string{"tracepoint", "reason"}),
		recordErrors: f.NewCounterVec(prometheus.CounterOpts{Name: "record_errors_total",
			Help: "Records that did not become events: read_error (memory of the traced process unreadable), oversized, malformed."},
			[]string{"tracepoint", "reason"}),
		decodeErrors: f.NewCounterVec(prometheus.CounterOpts{Name: "decode_errors_total",
			Help: "P2P payloads that did not parse as their command; published in the Unknown arm with the raw payload."},
			[]string{"command"}),
		truncated: f.NewCounterVec(prometheus.CounterOpts{Name: "truncated_strings_total",
			Help: "Strings longer than their BPF buffer, published cut."}, []string{"tracepoint", "field"}),
		attached: f.NewGauge(prometheus.GaugeOpts{Name: "attached",
			Help: "1 while the probes are attached to a running node."}),
		attaches: f.NewCounter(prometheus.CounterOpts{Name: "attaches_total",
			Help: "Times the probes were attached to a node process (more than one after restarts)."}),
		tracedPID: f.NewGauge(prometheus.GaugeOpts{Name: "traced_pid",
			Help: "Process id of the traced node, 0 while waiting for it."}),
		probes: f.NewGauge(prometheus.GaugeOpts{Name: "probes_attached",
			Help: "Number of probe sites attached."}),
		ringSize: f.NewGaugeVec(prometheus.GaugeOpts{Name: "ringbuf_size_bytes",
			Help: "Size of each BPF ring buffer."}, []string{"ring"}),
		ringPending: f.NewGaugeVec(prometheus.GaugeOpts{Name: "ringbuf_pending_bytes",
			Help: "Bytes waiting in each ring buffer at the last sample (backlog)."}, []string{"ring"}),
		payloadBytes: f.NewCounter(prometheus.CounterOpts{Name: "message_payload_bytes_total",
			Help: "P2P message payload bytes received from the probes."}),
		lastEventTime: f.NewGauge(prometheus.GaugeOpts{Name: "last_event_timestamp_seconds",
			Help: "Event time of the newest event delivered."}),
	}
}
