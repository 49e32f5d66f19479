package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// scenarioFresh runs the producer continuously in discovery mode while the
// simulator (in-process, for its entries' creation instants) adds entries
// at a steady rate, and measures for each entry the delay from its creation
// (ipstest Entry.Created) to the moment the bench's consumer reads it from
// the topic, and to the record's timestamp (set by the Kafka writer when
// the record is handed to it).
func scenarioFresh(ctx context.Context, e *env, c *collector, notes *[]string) error {
	cfg := e.cfg
	drain := cfg.FreshInterval + 3*time.Second
	*notes = append(*notes, fmt.Sprintf("fresh: discovery mode, poll interval %s, %g entries/s over %d assets for %s per run "+
		"(activity stops %s before the end so every entry can arrive); delay = consumer read time - Entry.Created "+
		"(record timestamp - Entry.Created shown too)", cfg.FreshInterval, cfg.FreshRate, cfg.FreshAssets, cfg.FreshFor, drain))
	for run := range cfg.Runs {
		if err := freshRun(ctx, e, c, run, drain); err != nil {
			return err
		}
	}
	target := (cfg.FreshInterval + time.Second).Seconds() * 1000
	c.target("p99 creation → consumer", "<=", target)
	c.target("entries not seen", "<=", 0)
	return nil
}

type seenRecord struct {
	seen, stamp time.Time
}

func freshRun(ctx context.Context, e *env, c *collector, run int, drain time.Duration) error {
	cfg := e.cfg
	sim := ipstest.NewServer(ipstest.WithCatalog(cfg.FreshAssets, 5), ipstest.WithSeed(uint64(run+1)))
	defer sim.Close()
	b, err := e.newBroker("fresh")
	if err != nil {
		return err
	}
	defer b.Close()
	state := filepath.Join(e.dir, fmt.Sprintf("fresh-%d.db", run))
	defer os.Remove(state)
	p, err := e.newPipe(ctx, sim.URL(), b, state, pipeline.Config{PollInterval: cfg.FreshInterval}, true)
	if err != nil {
		return err
	}
	defer p.Close()

	// Consume every partition from the start.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	var mu sync.Mutex
	seen := map[string]seenRecord{}
	var decodeErr error
	var wg sync.WaitGroup
	for part := range cfg.Partitions {
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers: b.addrs, Topic: b.topic, Partition: part, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 50 * time.Millisecond,
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.ReadMessage(readCtx)
				if err != nil {
					return
				}
				now := time.Now()
				entry, err := avro.Decode(m.Value)
				mu.Lock()
				if err != nil {
					decodeErr = err
				} else {
					seen[entry.AssetHandle+"|"+strconv.FormatInt(entry.LogDate.UnixMilli(), 10)] = seenRecord{seen: now, stamp: m.Time}
				}
				mu.Unlock()
			}
		}()
	}

	runCtx, stopRun := context.WithTimeout(ctx, cfg.FreshFor)
	defer stopRun()
	actCtx, stopActivity := context.WithTimeout(ctx, cfg.FreshFor-drain)
	defer stopActivity()
	done := make(chan error, 1)
	go func() { done <- p.poller.Run(runCtx) }()
	sim.StartActivity(actCtx, cfg.FreshRate)
	if err := <-done; err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // last fetches of the consumer
	stopReading()
	wg.Wait()
	if decodeErr != nil {
		return fmt.Errorf("decode record: %w", decodeErr)
	}

	var toConsumer, toStamp []float64
	missing, added := 0, 0
	start := sim.Start()
	for i := range cfg.FreshAssets {
		for _, en := range sim.Entries(i) {
			if !en.Created.After(start) {
				continue // base entry, 30 days old
			}
			added++
			s, ok := seen[en.AssetHandle+"|"+strconv.FormatInt(en.LogDate.UnixMilli(), 10)]
			if !ok {
				missing++
				continue
			}
			toConsumer = append(toConsumer, float64(s.seen.Sub(en.Created).Microseconds())/1000)
			toStamp = append(toStamp, float64(s.stamp.Sub(en.Created).Microseconds())/1000)
		}
	}
	if len(toConsumer) == 0 {
		return fmt.Errorf("no added entry reached the topic (%d added)", added)
	}
	c.add("p50 creation → consumer", "ms", percentile(toConsumer, 50))
	c.add("p99 creation → consumer", "ms", percentile(toConsumer, 99))
	c.add("max creation → consumer", "ms", percentile(toConsumer, 100))
	c.add("p50 creation → record timestamp", "ms", percentile(toStamp, 50))
	c.add("p99 creation → record timestamp", "ms", percentile(toStamp, 99))
	c.add("entries added", "entries", float64(added))
	c.add("entries not seen", "entries", float64(missing))
	return nil
}
