package analyze

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/peertape/peertape/proto/pb"
)

// peerInfoAnalyzer derives peertape's getpeerinfo gauges: the share of
// BIP324 v2 transport connections, peers on each IP list (ban and spy
// lists), and the protocol ping of connected peers in seconds.
type peerInfoAnalyzer struct {
	e          *Engine
	v2Ratio    prometheus.Gauge
	listed     map[string]prometheus.Gauge
	pingMean   prometheus.Gauge
	pingMedian prometheus.Gauge
	pingMax    prometheus.Gauge
}

func newPeerInfoAnalyzer(e *Engine, f promauto.Factory) *peerInfoAnalyzer {
	p := &peerInfoAnalyzer{e: e, listed: map[string]prometheus.Gauge{}}
	p.v2Ratio = f.NewGauge(prometheus.GaugeOpts{
		Name: "peertape_peers_v2_transport_ratio",
		Help: "Share (0 to 1) of connected peers using the BIP324 v2 transport, from the latest getpeerinfo.",
	})
	lv := f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "peertape_peers_listed",
		Help: "Connected peers whose address is on an IP list (ban and spy lists, loaded from files), by list, from the latest getpeerinfo.",
	}, []string{"list"})
	for _, nl := range e.opts.Lists.named() {
		p.listed[nl.name] = lv.WithLabelValues(nl.name)
	}
	p.pingMean = f.NewGauge(prometheus.GaugeOpts{
		Name: "peertape_peers_ping_mean_seconds",
		Help: "Mean protocol ping (ping_time) of connected peers with a ping, from the latest getpeerinfo.",
	})
	p.pingMedian = f.NewGauge(prometheus.GaugeOpts{
		Name: "peertape_peers_ping_median_seconds",
		Help: "Median protocol ping (ping_time) of connected peers with a ping, from the latest getpeerinfo.",
	})
	p.pingMax = f.NewGauge(prometheus.GaugeOpts{
		Name: "peertape_peers_ping_wait_max_seconds",
		Help: "Longest time a connected peer's ping has been outstanding (ping_wait), from the latest getpeerinfo.",
	})
	return p
}

func (p *peerInfoAnalyzer) peerInfos(c *evctx, pi *pb.PeerInfos) {
	infos := pi.GetInfos()
	v2 := 0
	counts := map[string]int{}
	var pings []float64
	var wait float64
	lists := p.e.opts.Lists.named()
	for _, peer := range infos {
		if peer.GetTransportProtocolType() == "v2" {
			v2++
		}
		ip := parseIP(ipFromAddr(peer.GetAddress()))
		for _, nl := range lists {
			if nl.list.Contains(ip) {
				counts[nl.name]++
			}
		}
		if pt := peer.GetPingTime(); pt > 0 {
			pings = append(pings, pt)
		}
		wait = max(wait, peer.GetPingWait())
	}
	p.v2Ratio.Set(ratio(float64(v2), float64(len(infos))))
	for name, g := range p.listed {
		g.Set(float64(counts[name]))
	}
	p.pingMean.Set(mean(pings))
	p.pingMedian.Set(median(pings))
	p.pingMax.Set(wait)
}
