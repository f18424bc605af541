package p2p

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the extractor's own, prefixed peertape_p2p_. Per-connection
// series carry the node's remote host and user agent, which is how
// several connected nodes are told apart.
type metrics struct {
	connections      prometheus.Counter
	refused          prometheus.Counter
	connected        *prometheus.GaugeVec // {remote_host, user_agent}
	messages         *prometheus.CounterVec
	bytes            prometheus.Counter
	events           *prometheus.CounterVec // {remote_host, type}
	protocolErrors   *prometheus.CounterVec // {reason}
	pingSeconds      *prometheus.HistogramVec
	lastPing         *prometheus.GaugeVec
	unsolicitedPongs prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := promauto.With(prometheus.WrapRegistererWithPrefix("peertape_p2p_", reg))
	return &metrics{
		connections: f.NewCounter(prometheus.CounterOpts{Name: "connections_total",
			Help: "Node connections accepted."}),
		refused: f.NewCounter(prometheus.CounterOpts{Name: "connections_refused_total",
			Help: "Connections closed at once because MaxConnections nodes were connected."}),
		connected: f.NewGaugeVec(prometheus.GaugeOpts{Name: "connected",
			Help: "1 for each node connected after its version message, by remote host and user agent."},
			[]string{"remote_host", "user_agent"}),
		messages: f.NewCounterVec(prometheus.CounterOpts{Name: "messages_total",
			Help: "Messages received from nodes, by command (unknown commands: other)."}, []string{"command"}),
		bytes: f.NewCounter(prometheus.CounterOpts{Name: "received_bytes_total",
			Help: "Bytes of messages received, headers included."}),
		events: f.NewCounterVec(prometheus.CounterOpts{Name: "events_total",
			Help: "Events delivered to the sink, by remote host and type."}, []string{"remote_host", "type"}),
		protocolErrors: f.NewCounterVec(prometheus.CounterOpts{Name: "protocol_errors_total",
			Help: "Connections closed for what the node sent: wrong_magic (v2 attempt or other network), oversized, malformed, protocol, timeout, io."},
			[]string{"reason"}),
		pingSeconds: f.NewHistogramVec(prometheus.HistogramOpts{Name: "ping_duration_seconds",
			Help:    "Time from our ping to the node's pong: its message-processing backlog.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}},
			[]string{"remote_host"}),
		lastPing: f.NewGaugeVec(prometheus.GaugeOpts{Name: "ping_duration_nanoseconds",
			Help: "The latest ping duration, like peer-observer's p2pextractor_ping_duration_nanoseconds."},
			[]string{"remote_host"}),
		unsolicitedPongs: f.NewCounter(prometheus.CounterOpts{Name: "unsolicited_pongs_total",
			Help: "Pongs whose nonce matched no ping we sent (ignored)."}),
	}
}
