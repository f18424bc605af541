package analyze

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/peertape/peertape/proto/pb"
)

// blockAnalyzer: block connection times (eBPF validation events),
// mutated blocks (BlockChecked log lines) and compact block
// reconstruction (cmpctblock log lines).
type blockAnalyzer struct {
	e            *Engine
	connection   prometheus.Histogram
	mutated      *prometheus.CounterVec
	reconstructs prometheus.Counter
	cbTxs        [4]prometheus.Counter // prefilled, mempool, extra_pool, requested
	cbRequested  prometheus.Histogram
}

var bucketsBlockSeconds = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

var bucketsRequestedTxs = []float64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}

func newBlockAnalyzer(e *Engine, f promauto.Factory) *blockAnalyzer {
	b := &blockAnalyzer{e: e}
	b.connection = f.NewHistogram(prometheus.HistogramOpts{
		Name:    "peertape_block_connection_seconds",
		Help:    "Time the node took to connect a block (validation:block_connected tracepoint).",
		Buckets: bucketsBlockSeconds,
	})
	b.mutated = f.NewCounterVec(prometheus.CounterOpts{
		Name: "peertape_mutated_blocks_total",
		Help: "BlockChecked log lines whose state marks a mutated block, by state.",
	}, []string{"state"})
	b.reconstructs = f.NewCounter(prometheus.CounterOpts{
		Name: "peertape_compact_block_reconstructions_total",
		Help: "Compact blocks the node reconstructed (cmpctblock log lines).",
	})
	txs := f.NewCounterVec(prometheus.CounterOpts{
		Name: "peertape_compact_block_transactions_total",
		Help: "Transactions of reconstructed compact blocks by where they came from: prefilled, mempool (including extra_pool), extra_pool, requested.",
	}, []string{"source"})
	for i, s := range []string{"prefilled", "mempool", "extra_pool", "requested"} {
		b.cbTxs[i] = txs.WithLabelValues(s)
	}
	b.cbRequested = f.NewHistogram(prometheus.HistogramOpts{
		Name:    "peertape_compact_block_requested_transactions",
		Help:    "Transactions the node had to request to reconstruct a compact block.",
		Buckets: bucketsRequestedTxs,
	})
	return b
}

func (b *blockAnalyzer) validation(c *evctx, v *pb.ValidationEvent) {
	if bc := v.GetBlockConnected(); bc != nil {
		b.connection.Observe(float64(bc.GetConnectionTime()) / 1e9)
	}
}

func (b *blockAnalyzer) log(c *evctx, l *pb.Log) {
	switch x := l.LogEvent.(type) {
	case *pb.Log_BlockCheckedLog:
		st := x.BlockCheckedLog.GetState()
		if !mutatedStates[st] {
			return
		}
		b.mutated.WithLabelValues(st).Inc()
		hash := strings.ToLower(x.BlockCheckedLog.GetBlockHash())
		refs, _ := b.e.recentBlocks.get(hash)
		b.e.det.mutated.event(c, refs...)
		if ep := b.e.det.mutated.open[c.node]; ep != nil && len(ep.details) < 16 {
			d := st + " " + hash
			for _, have := range ep.details {
				if have == d {
					return
				}
			}
			ep.details = append(ep.details, d)
		}
	case *pb.Log_UnknownLogMessage:
		msg := x.UnknownLogMessage.GetRawMessage()
		if !strings.HasPrefix(msg, reconstructedPrefix) {
			return
		}
		r, ok := parseReconstructed(msg)
		if !ok {
			return
		}
		b.reconstructs.Inc()
		b.cbTxs[0].Add(float64(r.prefilled))
		b.cbTxs[1].Add(float64(r.mempool))
		b.cbTxs[2].Add(float64(r.extra))
		b.cbTxs[3].Add(float64(r.requested))
		b.cbRequested.Observe(float64(r.requested))
	}
}

const reconstructedPrefix = "Successfully reconstructed block "

type reconstructed struct {
	hash                                 string
	prefilled, mempool, extra, requested uint64
}

// parseReconstructed reads Core's cmpctblock line in its three forms:
//
//	... HASH with P txn prefilled, M txn from mempool (incl at least X from extra pool) and R txn requested
//	... HASH with P txn prefilled, M txn from mempool (incl at least X from extra pool) and R txn (B bytes) requested
//	... HASH with P txn prefilled (B bytes), M txn from mempool (B bytes), X txn from extrapool (B bytes), and R txn requested (B bytes)
//
// In the first two M includes the X from the extra pool; in the newest M
// does not, so X is added to it: mempool always counts both.
func parseReconstructed(msg string) (reconstructed, bool) {
	var r reconstructed
	rest, ok := strings.CutPrefix(msg, reconstructedPrefix)
	if !ok {
		return r, false
	}
	r.hash, rest, ok = strings.Cut(rest, " with ")
	if !ok || r.hash == "" {
		return r, false
	}
	rest = strings.TrimRight(rest, "\r\n ")
	if strings.Contains(rest, " from extrapool (") {
		return parseReconstructed2026(r, rest)
	}
	steps := []struct {
		dst *uint64
		sep string
	}{
		{&r.prefilled, " txn prefilled, "},
		{&r.mempool, " txn from mempool (incl at least "},
		{&r.extra, " from extra pool) and "},
		{&r.requested, " txn"},
	}
	if !scanNumbers(&rest, steps) || r.extra > r.mempool {
		return r, false // Core's mempool count includes the extra pool's
	}
	if rest == " requested" {
		return r, true
	}
	if inner, ok := strings.CutPrefix(rest, " ("); ok {
		if num, tail, ok := strings.Cut(inner, " bytes) requested"); ok && tail == "" && isUint(num) {
			return r, true
		}
	}
	return r, false
}

func parseReconstructed2026(r reconstructed, rest string) (reconstructed, bool) {
	var bytes uint64
	steps := []struct {
		dst *uint64
		sep string
	}{
		{&r.prefilled, " txn prefilled ("},
		{&bytes, " bytes), "},
		{&r.mempool, " txn from mempool ("},
		{&bytes, " bytes), "},
		{&r.extra, " txn from extrapool ("},
		{&bytes, " bytes), and "},
		{&r.requested, " txn requested ("},
		{&bytes, " bytes)"},
	}
	if !scanNumbers(&rest, steps) || rest != "" {
		return r, false
	}
	r.mempool += r.extra
	return r, true
}

// scanNumbers reads "N<sep>" for each step from *rest.
func scanNumbers(rest *string, steps []struct {
	dst *uint64
	sep string
}) bool {
	for _, s := range steps {
		num, after, ok := strings.Cut(*rest, s.sep)
		if !ok {
			return false
		}
		v, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return false
		}
		*s.dst, *rest = v, after
	}
	return true
}

func isUint(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}
