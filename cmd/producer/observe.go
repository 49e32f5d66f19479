package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// readinessChecker is what /readyz asks of the sink.
type readinessChecker interface {
	Ready(ctx context.Context) error
}

// serveMetrics serves /metrics, /healthz (the process is up) and /readyz
// (a round has completed and the broker answers) on addr.
func serveMetrics(addr string, reg *prometheus.Registry, poller *pipeline.Poller, sink readinessChecker, logger *slog.Logger) (io.Closer, error) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := readiness(r.Context(), poller, sink); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &usageError{fmt.Errorf("-metrics-addr: %w", err)}
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", "err", err)
		}
	}()
	logger.Info("serving metrics", "addr", "http://"+ln.Addr().String()+"/metrics")
	return srv, nil
}

// readiness says why the producer is not ready, or nil when a round has
// completed and the broker answers within 5 seconds. /readyz and the
// assetjoblog_ready gauge both ask it.
func readiness(ctx context.Context, poller *pipeline.Poller, sink readinessChecker) error {
	if !poller.Ready() {
		return errors.New("no poll round has completed yet")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sink.Ready(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func wantProgress(cfg *config, stderr io.Writer) bool {
	switch cfg.Progress {
	case "on":
		return true
	case "off":
		return false
	}
	return isTerminal(stderr)
}

// progress shows a -once backfill: assets done of total, entries published,
// rate and ETA. A nil *progress does nothing.
type progress struct {
	mu        sync.Mutex
	bar       *progressbar.ProgressBar
	published int
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("assets"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("assets"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
}

func (p *progress) asset(published int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published += published
	p.bar.Describe(fmt.Sprintf("assets (%d entries published)", p.published))
	_ = p.bar.Add(1)
}

// total sets the number of assets once a catalog listing tells it.
func (p *progress) total(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.ChangeMax(n)
}

func (p *progress) finish() {
	if p == nil {
		return
	}
	_ = p.bar.Finish()
}
