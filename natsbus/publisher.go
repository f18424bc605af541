package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/peertape/peertape/event"
)

// PublisherOptions configures a Publisher. The zero value publishes events
// of unknown kind on the subject "unknown".
type PublisherOptions struct {
	// UnknownSubject is used for events whose kind this build does not know
	// (their original subject was not recorded). "-" skips them instead.
	UnknownSubject string
	Logger         *slog.Logger
}

// Publisher is an event.Sink that publishes each event's exact bytes on the
// subject peer-observer uses for its kind. It is safe for one goroutine.
type Publisher struct {
	nc        *nats.Conn
	unknown   string
	log       *slog.Logger
	published atomic.Uint64
	failed    atomic.Uint64
	skipped   atomic.Uint64
}

// NewPublisher returns a Publisher on nc. The caller keeps ownership of nc.
func NewPublisher(nc *nats.Conn, opts ...PublisherOptions) *Publisher {
	var o PublisherOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.UnknownSubject == "" {
		o.UnknownSubject = "unknown"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Publisher{nc: nc, unknown: o.UnknownSubject, log: o.Logger}
}

// Consume publishes ev.Raw. A message the server refuses (larger than its
// max_payload) is logged and counted, not fatal: one oversized block must
// not end a replay. A closed connection is an error.
func (p *Publisher) Consume(ev event.Event) error {
	subj := ev.Kind.Subject()
	if subj == "" {
		if p.unknown == "-" {
			p.skipped.Add(1)
			return nil
		}
		subj = p.unknown
	}
	err := p.nc.Publish(subj, ev.Raw)
	switch {
	case err == nil:
		p.published.Add(1)
		return nil
	case errors.Is(err, nats.ErrMaxPayload):
		n := p.failed.Add(1)
		p.log.Warn("nats refused event larger than max_payload", "subject", subj, "bytes", len(ev.Raw),
			"max_payload", p.nc.MaxPayload(), "refused_total", n)
		return nil
	default:
		p.failed.Add(1)
		return fmt.Errorf("publish %s: %w", subj, err)
	}
}

// Flush waits until the server has received everything published so far.
// Without a deadline on ctx it waits at most 10 seconds.
func (p *Publisher) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := p.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("nats flush: %w", err)
	}
	return nil
}

// Stats returns how many events were published, refused and skipped.
func (p *Publisher) Stats() (published, failed, skipped uint64) {
	return p.published.Load(), p.failed.Load(), p.skipped.Load()
}
