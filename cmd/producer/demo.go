package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
)

// Demo defaults: a small synthetic company, new activity every few seconds.
const (
	demoCompany    = "c|6"
	demoUser       = "demo@example.com"
	demoPassword   = "demo-password"
	demoAssets     = 8
	demoEntries    = 3
	demoPartitions = 3
	demoActivity   = 0.5 // new entries per second while running continuously
)

// demoEnv is the in-process IPS simulator and embedded broker of -demo,
// and the reader that prints what reaches the topic.
type demoEnv struct {
	sim     *ipstest.Server
	cluster *kafkatest.Cluster
	dir     string
	logger  *slog.Logger
	brokers []string
	topic   string

	mu      sync.Mutex
	printed int
	ids     map[string]int
	cond    *sync.Cond
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// startDemo starts the simulator and broker and points cfg at them. Flags
// the user gave explicitly for the pieces the demo replaces are overridden.
func startDemo(ctx context.Context, cfg *config, logger *slog.Logger) (*demoEnv, error) {
	d := &demoEnv{logger: logger, topic: cfg.Topic, ids: map[string]int{}}
	d.cond = sync.NewCond(&d.mu)
	d.sim = ipstest.NewServer(
		ipstest.WithCompany(demoCompany),
		ipstest.WithCredentials(demoUser, demoPassword),
		ipstest.WithCatalog(demoAssets, demoEntries),
	)
	cluster, err := kafkatest.Start(cfg.Topic, demoPartitions)
	if err != nil {
		d.sim.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	d.cluster = cluster
	d.brokers = cluster.Brokers()
	dir, err := os.MkdirTemp("", "assetjoblog-demo-")
	if err != nil {
		d.Close()
		return nil, err
	}
	d.dir = dir

	cfg.IPSURL, cfg.IPSRegion = d.sim.URL(), ""
	cfg.IPSUser, cfg.ipsPassword, cfg.ipsAccessToken = demoUser, demoPassword, ""
	cfg.IPSCAFile, cfg.IPSInsecureSkipVerify = "", false
	cfg.Company = demoCompany
	if !cfg.Discover {
		cfg.Assets, cfg.AssetsFile = strings.Join(d.sim.AssetHandles(), ","), ""
	}
	cfg.Brokers = strings.Join(d.brokers, ",")
	cfg.KafkaTLS, cfg.KafkaSASLMechanism = false, ""
	cfg.SchemaRegistry = ""
	cfg.State = filepath.Join(dir, "state.db")
	if cfg.PollInterval == time.Minute {
		cfg.PollInterval = 2 * time.Second
	}
	if !cfg.Once {
		d.sim.StartActivity(ctx, demoActivity)
	}
	logger.Info("demo: IPS simulator and embedded Kafka started",
		"ips_url", cfg.IPSURL, "brokers", cfg.Brokers, "topic", cfg.Topic, "assets", demoAssets)
	return d, nil
}

// startPrinter reads every partition of the topic from the start and
// prints each record, decoded, as one JSON line with the Avro field names.
func (d *demoEnv) startPrinter(ctx context.Context, stdout io.Writer) {
	ctx, d.cancel = context.WithCancel(ctx)
	var out sync.Mutex
	for p := 0; p < demoPartitions; p++ {
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers: d.brokers, Topic: d.topic, Partition: p, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond,
		})
		d.done.Add(1)
		go func() {
			defer d.done.Done()
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				line, err := avro.ToJSON(m.Value)
				if err != nil {
					d.logger.Error("demo: cannot decode record", "partition", m.Partition, "offset", m.Offset, "err", err)
					continue
				}
				out.Lock()
				fmt.Fprintf(stdout, "%s\n", line)
				out.Unlock()
				d.mu.Lock()
				d.printed++
				for _, h := range m.Headers {
					if h.Key == "event-id" {
						d.ids[string(h.Value)]++
					}
				}
				d.cond.Broadcast()
				d.mu.Unlock()
			}
		}()
	}
}

// waitPrinted waits until n records were printed, or timeout.
func (d *demoEnv) waitPrinted(n int, timeout time.Duration) {
	t := time.AfterFunc(timeout, func() { d.mu.Lock(); d.cond.Broadcast(); d.mu.Unlock() })
	defer t.Stop()
	deadline := time.Now().Add(timeout)
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.printed < n && time.Now().Before(deadline) {
		d.cond.Wait()
	}
}

func (d *demoEnv) stopPrinter() {
	if d.cancel != nil {
		d.cancel()
	}
	d.done.Wait()
}

// summary writes the closing line of the demo to w, which is stderr: stdout
// holds only the records, one JSON document per line, so that it can be
// piped into a JSON tool.
func (d *demoEnv) summary(w io.Writer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dups := d.printed - len(d.ids)
	fmt.Fprintf(w, "demo summary: %d records read back from topic %s, %d distinct eventIds, %d duplicates; simulator holds %d entries\n",
		d.printed, d.topic, len(d.ids), dups, d.sim.TotalEntries())
}

func (d *demoEnv) Close() {
	if d.cluster != nil {
		d.cluster.Close()
	}
	if d.sim != nil {
		d.sim.Close()
	}
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
}
