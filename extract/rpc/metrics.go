package rpc

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the extractor's own metrics. The first three carry the
// names of peer-observer's rpc-extractor metrics (plus labels), so its
// dashboards work; the rest are peertape's.
type metrics struct {
	duration         *prometheus.HistogramVec // {rpc_method}
	errors           *prometheus.CounterVec   // {rpc_method, reason}
	modelErrors      *prometheus.CounterVec   // {rpc_method}
	events           *prometheus.CounterVec   // {rpc_method}
	unsupported      *prometheus.GaugeVec     // {rpc_method}
	unsupportedTotal *prometheus.CounterVec   // {rpc_method}
	skipped          *prometheus.CounterVec   // {rpc_method}
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := promauto.With(prometheus.WrapRegistererWithPrefix("rpcextractor_", reg))
	return &metrics{
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "rpc_fetch_duration_seconds",
			Help:    "Time to fetch an RPC result, including failed and timed-out requests.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}},
			[]string{"rpc_method"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{Name: "rpc_fetch_errors_total",
			Help: "Failed fetches by reason: timeout, connection (node unreachable), auth, warmup (node starting), rpc (error answer), http, other."},
			[]string{"rpc_method", "reason"}),
		modelErrors: f.NewCounterVec(prometheus.CounterOpts{Name: "rpc_model_errors_total",
			Help: "Results that did not fit peer-observer's schema (wholly: no event; partly: event without the bad entries)."},
			[]string{"rpc_method"}),
		events: f.NewCounterVec(prometheus.CounterOpts{Name: "rpc_events_total",
			Help: "Events delivered to the sink."}, []string{"rpc_method"}),
		unsupported: f.NewGaugeVec(prometheus.GaugeOpts{Name: "rpc_unsupported",
			Help: "1 while the node answers this RPC with method-not-found (skipped, rechecked periodically)."},
			[]string{"rpc_method"}),
		unsupportedTotal: f.NewCounterVec(prometheus.CounterOpts{Name: "rpc_unsupported_total",
			Help: "Method-not-found answers."}, []string{"rpc_method"}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{Name: "rpc_backoff_skipped_total",
			Help: "Polls skipped after timeouts, while the node may still work on abandoned requests."}, []string{"rpc_method"}),
	}
}
