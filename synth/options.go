package synth

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/peertape/peertape/proto/pb"
)

// Defaults and limits for Options.
const (
	// DefaultRate is the baseline event rate of a busy mainnet node
	// recorded by peer-observer (about 1,300 events/s).
	DefaultRate = 1300
	// MinRate and MaxRate bound Options.Rate. Below MinRate the fixed
	// periodic traffic (pings, RPC polls, blocks) alone exceeds the
	// target; above MaxRate the model stops resembling one node.
	MinRate = 60
	MaxRate = 20_000
	// Implementation is what SegmentMeta.implementation says for
	// generated archives.
	Implementation = "synthetic"
	// NodeUserAgent is the simulated node's own user agent.
	NodeUserAgent = "/Satoshi:29.1.0/"
)

// DefaultStart is the start of the generated stream when Options.Start is
// zero: a fixed date, so that the same command line writes the same files.
var DefaultStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// AnomalyKind names an injectable anomaly.
type AnomalyKind string

// The anomalies. What each one injects is documented in doc.go.
const (
	PingBacklog  AnomalyKind = "ping-backlog"
	InboundFlood AnomalyKind = "inbound-flood"
	Misbehaving  AnomalyKind = "misbehaving"
	MutatedBlock AnomalyKind = "mutated-block"
	OrphanFlood  AnomalyKind = "orphan-flood"
	RejectSpike  AnomalyKind = "reject-spike"
)

// AnomalyKinds lists every kind in a stable order.
func AnomalyKinds() []AnomalyKind {
	return []AnomalyKind{PingBacklog, InboundFlood, Misbehaving, MutatedBlock, OrphanFlood, RejectSpike}
}

// DefaultAnomalyDuration is the duration used when KIND@OFFSET gives none.
func DefaultAnomalyDuration(k AnomalyKind) time.Duration {
	switch k {
	case PingBacklog, OrphanFlood:
		return 5 * time.Minute
	}
	return 2 * time.Minute
}

// Anomaly is one injected disturbance: Kind starts Offset after the start
// of the stream and lasts Duration.
type Anomaly struct {
	Kind     AnomalyKind
	Offset   time.Duration
	Duration time.Duration
}

// String renders the anomaly as ParseAnomaly reads it, with both offset
// and duration spelled out (the canonical form stored in metadata).
func (a Anomaly) String() string {
	return fmt.Sprintf("%s@%s:%s", a.Kind, a.Offset, a.Duration)
}

// ParseAnomaly parses KIND@OFFSET[:DURATION], for example
// "ping-backlog@10m:5m". OFFSET and DURATION are Go durations or bare
// seconds; a missing DURATION is DefaultAnomalyDuration(KIND).
func ParseAnomaly(s string) (Anomaly, error) {
	kind, rest, ok := strings.Cut(strings.TrimSpace(s), "@")
	if !ok || kind == "" || rest == "" {
		return Anomaly{}, fmt.Errorf("anomaly %q: want KIND@OFFSET[:DURATION], e.g. ping-backlog@10m:5m", s)
	}
	k := AnomalyKind(strings.ToLower(kind))
	known := false
	for _, kk := range AnomalyKinds() {
		known = known || kk == k
	}
	if !known {
		names := make([]string, 0, 6)
		for _, kk := range AnomalyKinds() {
			names = append(names, string(kk))
		}
		return Anomaly{}, fmt.Errorf("anomaly %q: unknown kind %q (want one of %s)", s, kind, strings.Join(names, ", "))
	}
	offS, durS, hasDur := strings.Cut(rest, ":")
	off, err := parseDur(offS)
	if err != nil {
		return Anomaly{}, fmt.Errorf("anomaly %q: offset: %w", s, err)
	}
	a := Anomaly{Kind: k, Offset: off, Duration: DefaultAnomalyDuration(k)}
	if hasDur {
		d, err := parseDur(durS)
		if err != nil {
			return Anomaly{}, fmt.Errorf("anomaly %q: duration: %w", s, err)
		}
		if d <= 0 {
			return Anomaly{}, fmt.Errorf("anomaly %q: duration must be positive", s)
		}
		a.Duration = d
	}
	return a, nil
}

func parseDur(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if !(f >= 0) {
			return 0, fmt.Errorf("%q is not a non-negative number of seconds", s)
		}
		if f > float64(math.MaxInt64)/float64(time.Second) {
			return 0, fmt.Errorf("%q seconds is too long", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 90s, 10m or 1h30m", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// Options configure a Generator. Zero values select the defaults.
type Options struct {
	// Node is set as event.Event.Node on every event and as the segment
	// metadata's node name. Default "synth".
	Node string
	// Start is the event time of the beginning of the stream; default
	// DefaultStart. Only its millisecond part matters.
	Start time.Time
	// Duration is the span of event time to generate. Required.
	Duration time.Duration
	// Rate is the baseline rate in events per second of event time,
	// MinRate..MaxRate; default DefaultRate. Anomalies add their own
	// events on top.
	Rate float64
	// Seed selects the stream: the same Options give byte-identical
	// events.
	Seed uint64
	// Anomalies to inject; each must end within Duration.
	Anomalies []Anomaly
}

func (o Options) withDefaults() Options {
	if o.Node == "" {
		o.Node = "synth"
	}
	if o.Start.IsZero() {
		o.Start = DefaultStart
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	return o
}

// Validate reports the first problem with the options, naming the field.
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.Duration <= 0 {
		return errors.New("duration must be positive")
	}
	if o.Duration < time.Millisecond {
		return fmt.Errorf("duration %s is shorter than one millisecond", o.Duration)
	}
	if o.Rate < MinRate || o.Rate > MaxRate {
		return fmt.Errorf("rate %g events/s is outside %d..%d", o.Rate, MinRate, MaxRate)
	}
	if o.Start.UnixMilli() <= 0 {
		return fmt.Errorf("start %s is before 1970", o.Start)
	}
	for _, a := range o.Anomalies {
		if a.Duration <= 0 {
			return fmt.Errorf("anomaly %s: duration must be positive", a)
		}
		if a.Offset < 0 || a.Offset > o.Duration || a.Duration > o.Duration-a.Offset {
			return fmt.Errorf("anomaly %s does not fit in the %s stream (it must end by then)", a, o.Duration)
		}
	}
	return nil
}

// Meta returns the segment metadata for an archive of this stream:
// implementation "synthetic", the simulated node's version and network,
// and the generation parameters in the synthetic field.
func (o Options) Meta() *pb.SegmentMeta {
	o = o.withDefaults()
	anoms := make([]string, len(o.Anomalies))
	for i, a := range o.Anomalies {
		anoms[i] = a.String()
	}
	return &pb.SegmentMeta{
		Node:                  o.Node,
		Implementation:        Implementation,
		ImplementationVersion: NodeUserAgent,
		Network:               "mainnet",
		Source:                fmt.Sprintf("synth seed=%d rate=%g", o.Seed, o.Rate),
		Synthetic: &pb.Synthetic{
			Seed:       o.Seed,
			Rate:       o.Rate,
			DurationMs: o.Duration.Milliseconds(),
			Anomalies:  anoms,
		},
	}
}
