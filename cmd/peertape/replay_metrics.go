package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"

	"github.com/peertape/peertape/analyze"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/replay"
)

// metricsReplaySink adds the analyzers' outputs to `peertape replay`:
// --metrics-addr (live /metrics), --metrics-out (final text exposition)
// and --openmetrics (event-time samples for promtool). All three read one
// analyze.Engine, so they always agree.
//
// --loop: every pass starts event time over, which the engine (a pure
// function of one stream) cannot follow — its watermark would stay at the
// end of pass 1 and every rate window of pass 2 would be wrong. So:
//   - --metrics-out and --openmetrics describe the FIRST pass: they are
//     written when pass 2 starts (or at the end, if the replay stops
//     before), and are the same bytes as a replay without --loop.
//   - --metrics-addr serves a fresh engine from the start of every pass, as
//     if the archive were replayed anew; a Prometheus scraping it sees a
//     counter reset at each pass, which rate() handles.
type metricsReplaySink struct {
	addr             string
	out              string
	openMetrics      string
	interval         seconds
	noProcessMetrics bool
	engine           engineFlags
	detect           *detectFlags
}

func init() {
	registerReplaySink(&metricsReplaySink{interval: seconds(analyze.DefaultSampleInterval), detect: newDetectFlags()})
}

func (p *metricsReplaySink) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&p.addr, "metrics-addr", "", "serve the analyzers' /metrics (Prometheus text or OpenMetrics) on ADDR; keeps serving after the archive ends until Ctrl-C")
	fs.StringVar(&p.out, "metrics-out", "", "write the analyzers' final exposition (Prometheus text format) to FILE when the replay ends")
	fs.StringVar(&p.openMetrics, "openmetrics", "", "write the analyzers' metrics every --interval of event time to FILE in OpenMetrics with timestamps (for promtool tsdb create-blocks-from openmetrics)")
	fs.Var(&p.interval, "interval", "event time between --openmetrics samples")
	fs.BoolVar(&p.noProcessMetrics, "no-process-metrics", false, "--metrics-addr serves only the analyzers' metrics (no process_*, go_*)")
	p.engine.addFlags(fs)
	p.detect.addFlags(fs)
}

// swapEngine is the sink the replay feeds: the current pass's engine.
type swapEngine struct {
	cur     atomic.Pointer[analyze.Engine]
	handler atomic.Pointer[http.Handler]
}

func (s *swapEngine) Consume(ev event.Event) error { return s.cur.Load().Consume(ev) }

func (s *swapEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.handler.Load()).ServeHTTP(w, r)
}

func (p *metricsReplaySink) Sinks(ctx context.Context, env replayEnv) ([]replaySink, error) {
	if p.addr == "" && p.out == "" && p.openMetrics == "" {
		return nil, nil
	}
	if p.interval < seconds(time.Second) {
		return nil, usagef("--interval %v: want at least 1s", time.Duration(p.interval))
	}
	opts, lists, err := p.engine.options()
	if err != nil {
		return nil, err
	}
	if opts.Detect, err = p.detect.options(); err != nil {
		return nil, err
	}
	log := env.Logger
	if len(lists) > 0 {
		log.Info("IP lists loaded", "lists", lists)
	}
	first, err := analyze.New(opts)
	if err != nil {
		return nil, err
	}
	sw := &swapEngine{}
	sw.cur.Store(first)

	// The files are created up front so that a bad path fails before the
	// replay, not after an hour of it.
	var outF, omF *atomicFile
	var sampler *analyze.Sampler
	if p.out != "" {
		if outF, err = createAtomic(p.out); err != nil {
			return nil, fmt.Errorf("--metrics-out: %w", err)
		}
	}
	if p.openMetrics != "" {
		if omF, err = createAtomic(p.openMetrics); err != nil {
			outF.abort()
			return nil, fmt.Errorf("--openmetrics: %w", err)
		}
		sampler, err = first.NewSampler(omF.w, analyze.SamplerOptions{Interval: time.Duration(p.interval), TempDir: filepath.Dir(p.openMetrics)})
		if err != nil {
			outF.abort()
			omF.abort()
			return nil, fmt.Errorf("--openmetrics: %w", err)
		}
	}

	var extra prometheus.Gatherer
	if !p.noProcessMetrics {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
		extra = reg
	}
	setHandler := func(e *analyze.Engine) {
		h := e.Handler(analyze.HandlerOptions{Extra: extra, Logger: log})
		sw.handler.Store(&h)
	}
	setHandler(first)

	var srv *http.Server
	var served string
	if p.addr != "" {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			outF.abort()
			omF.abort()
			return nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		served = ln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", sw)
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprintln(w, "peertape replay: see /metrics")
		})
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		log.Info("serving metrics", "addr", served)
	}

	// finishFiles writes --metrics-out and --openmetrics from the first
	// pass's engine, once.
	var once sync.Once
	var advanceErr error
	var filesErr error
	finishFiles := func() {
		once.Do(func() {
			var errs []error
			if sampler != nil {
				if advanceErr != nil {
					errs = append(errs, fmt.Errorf("--openmetrics: %w", advanceErr))
				}
				if err := sampler.Close(); err != nil {
					errs = append(errs, fmt.Errorf("--openmetrics: %w", err))
				}
				if err := omF.commit(); err != nil {
					errs = append(errs, fmt.Errorf("--openmetrics: %w", err))
				} else if len(errs) == 0 {
					log.Info("wrote OpenMetrics samples", "file", p.openMetrics, "samples", sampler.Samples(), "interval", time.Duration(p.interval).String())
				}
			}
			if outF != nil {
				if err := first.WriteText(outF.w); err != nil {
					outF.abort()
					errs = append(errs, fmt.Errorf("--metrics-out: %w", err))
				} else if err := outF.commit(); err != nil {
					errs = append(errs, fmt.Errorf("--metrics-out: %w", err))
				} else {
					log.Info("wrote metrics", "file", p.out, "events", first.Events())
				}
			}
			filesErr = errors.Join(errs...)
		})
	}

	desc := "analyzers"
	if served != "" {
		desc += " metrics on http://" + served + "/metrics"
	}
	if p.out != "" {
		desc += " → " + p.out
	}
	if p.openMetrics != "" {
		desc += " → " + p.openMetrics
	}
	return []replaySink{{
		Sink:        sw,
		Description: desc,
		Advance: func(ms int64) {
			if sampler == nil || advanceErr != nil {
				return
			}
			// Only the first pass's engine carries the sampler; later
			// passes' Advance calls go to engines without one.
			if err := sw.cur.Load().AdvanceTo(ms); err != nil {
				advanceErr = err
				log.Error("OpenMetrics sampling failed; the file will not be written", "err", err)
			}
		},
		Pass: func(n int) {
			finishFiles()
			e, err := analyze.New(opts)
			if err != nil { // cannot happen: the same options worked above
				log.Error("new analyzer engine for the next pass", "err", err)
				return
			}
			sw.cur.Store(e)
			setHandler(e)
			log.Info("analyzers start over with the pass", "pass", n)
		},
		Close: func(_ context.Context, st replay.Stats) error {
			finishFiles()
			return filesErr
		},
		Linger: func(ctx context.Context) {
			if srv == nil {
				return
			}
			cur := sw.cur.Load()
			log.Info("replay finished; still serving metrics until interrupted (Ctrl-C)",
				"url", "http://"+served+"/metrics", "events", cur.Events(), "last_event", event.FormatTime(cur.Now()))
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		},
	}}, nil
}

// atomicFile is an output written under a temporary name in the target's
// directory and renamed over it on commit, so a failed or interrupted run
// never leaves a half-written file where a good one is expected.
type atomicFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
}

func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	return &atomicFile{path: path, f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (a *atomicFile) commit() error {
	err := a.w.Flush()
	if err == nil {
		err = a.f.Chmod(0o644)
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(a.f.Name())
		return err
	}
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		os.Remove(a.f.Name())
		return err
	}
	return nil
}

// abort removes the temporary file; nil-safe.
func (a *atomicFile) abort() {
	if a == nil {
		return
	}
	a.f.Close()
	os.Remove(a.f.Name())
}
