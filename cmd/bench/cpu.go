package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// scenarioCPU measures the full pipeline at zero IPS latency beside its
// floor: (a) decoding the same response bodies and (b) publishing the same
// pre-encoded records through the Sink, all in one process whose CPU time
// is read with getrusage. The simulator is a child process (its CPU is
// reported separately); the embedded broker is in-process, so its CPU
// counts in the pipeline figure and in floor (b) alike.
func scenarioCPU(ctx context.Context, e *env, c *collector, notes *[]string) error {
	cfg := e.cfg
	if err := e.build(ctx, "ips-sim"); err != nil {
		return err
	}
	sim, url, err := e.startSim("-assets", strconv.Itoa(cfg.CPUAssets), "-entries", strconv.Itoa(cfg.CPUEntries))
	if err != nil {
		return err
	}
	defer sim.stop(5 * time.Second)
	handles := assetHandles(cfg.CPUAssets)

	bodies, err := captureBodies(ctx, url, handles)
	if err != nil {
		return err
	}
	records, bodyBytes, err := encodeAll(bodies, handles)
	if err != nil {
		return err
	}
	total := cfg.CPUAssets * cfg.CPUEntries
	*notes = append(*notes, fmt.Sprintf("cpu: %d assets × %d entries per run (%.0f KB per response body, decoded), concurrency %d; "+
		"the simulator runs in a child process; the embedded broker runs in-process and is counted in the pipeline and in floor (b)",
		cfg.CPUAssets, cfg.CPUEntries, float64(bodyBytes)/float64(len(bodies))/1024, cfg.CPUConcurrency))

	for run := range cfg.Runs {
		b, err := e.newBroker("cpu")
		if err != nil {
			return err
		}
		state := filepath.Join(e.dir, fmt.Sprintf("cpu-%d.db", run))
		p, err := e.newPipe(ctx, url, b, state, pipeline.Config{Assets: handles, Concurrency: cfg.CPUConcurrency}, false)
		if err != nil {
			b.Close()
			return err
		}
		runtime.GC()
		sim0, _ := cpuTicks(sim.cmd.Process.Pid)
		cpu0, t0 := selfCPU(), time.Now()
		stats, err := p.poller.RunOnce(ctx)
		wall, cpu := time.Since(t0), selfCPU()-cpu0
		sim1, _ := cpuTicks(sim.cmd.Process.Pid)
		p.Close()
		os.Remove(state)
		if err != nil {
			b.Close()
			return fmt.Errorf("pipeline round: %w", err)
		}
		if stats.Published != total {
			b.Close()
			return fmt.Errorf("pipeline published %d entries, want %d", stats.Published, total)
		}

		// Floor (a): decoding the same bodies, one after the other.
		runtime.GC()
		cpuA0, tA0 := selfCPU(), time.Now()
		decoded := 0
		for i, body := range bodies {
			log, _, err := ips.DecodeAssetJobLogs(bytes.NewReader(body), simCompany, handles[i])
			if err != nil {
				b.Close()
				return fmt.Errorf("floor (a): %w", err)
			}
			decoded += len(log)
		}
		wallA, cpuA := time.Since(tA0), selfCPU()-cpuA0

		// Floor (b): publishing the pre-encoded records, one Publish per
		// asset and as many at once as the pipeline works on.
		sink, err := e.newSink(ctx, b)
		if err != nil {
			b.Close()
			return fmt.Errorf("floor (b): %w", err)
		}
		runtime.GC()
		cpuB0, tB0 := selfCPU(), time.Now()
		err = publishAll(ctx, sink, records, cfg.CPUConcurrency)
		wallB, cpuB := time.Since(tB0), selfCPU()-cpuB0
		sink.Close()
		b.Close()
		if err != nil {
			return fmt.Errorf("floor (b): %w", err)
		}

		perEntry := func(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }
		pipeCPU, aCPU, bCPU := perEntry(cpu, total), perEntry(cpuA, decoded), perEntry(cpuB, total)
		c.add("pipeline throughput", "entries/s", float64(total)/wall.Seconds())
		c.add("pipeline CPU per entry", "µs", pipeCPU)
		c.add("pipeline cores busy (CPU/wall)", "cores", cpu.Seconds()/wall.Seconds())
		c.add("floor (a) decode CPU per entry", "µs", aCPU)
		c.add("floor (b) publish CPU per entry", "µs", bCPU)
		c.add("pipeline CPU / floor (a+b)", "ratio", pipeCPU/(aCPU+bCPU))
		c.add("floor (a) decode-only throughput", "entries/s", float64(decoded)/wallA.Seconds())
		c.add("floor (b) publish-only throughput", "entries/s", float64(total)/wallB.Seconds())
		c.add("simulator CPU per entry (child, not in pipeline)", "µs", perEntry(sim1-sim0, total))
		if cfg.Verbose {
			fmt.Fprintf(e.log, "cpu run %d: pipeline %s wall %s CPU; decode %s; publish %s wall %s CPU\n",
				run, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), cpuA.Round(time.Millisecond),
				wallB.Round(time.Millisecond), cpuB.Round(time.Millisecond))
		}
	}
	c.target("pipeline throughput", ">=", 20000)
	c.target("pipeline CPU / floor (a+b)", "<=", 1.5)
	return nil
}

// captureBodies fetches every asset's log once through the IPS client and
// keeps each response body as the decoder read it (after gzip decoding).
func captureBodies(ctx context.Context, url string, handles []string) ([][]byte, error) {
	rt := &captureTransport{next: http.DefaultTransport.(*http.Transport).Clone()}
	client, err := newIPSClient(url, rt)
	if err != nil {
		return nil, err
	}
	bodies := make([][]byte, len(handles))
	for i, h := range handles {
		if _, _, err := client.AssetJobLogs(ctx, simCompany, h); err != nil {
			return nil, fmt.Errorf("capture response of %s: %w", h, err)
		}
		bodies[i] = rt.last
	}
	return bodies, nil
}

// captureTransport keeps the body of the last response, gzip-decoded. Not
// for concurrent use.
type captureTransport struct {
	next http.RoundTripper
	last []byte
}

func (t *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	t.last = body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if t.last, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// encodeAll decodes each body and builds the records the pipeline would
// publish for it: event ids, observedAt, Avro single-object values and the
// same headers.
func encodeAll(bodies [][]byte, handles []string) ([][]pipeline.Record, int, error) {
	enc, err := avro.NewSingleObjectEncoder()
	if err != nil {
		return nil, 0, err
	}
	contentType := []byte(enc.ContentType())
	observed := time.Now().UTC().Truncate(time.Millisecond)
	out := make([][]pipeline.Record, len(bodies))
	size := 0
	for i, body := range bodies {
		size += len(body)
		log, _, err := ips.DecodeAssetJobLogs(bytes.NewReader(body), simCompany, handles[i])
		if err != nil {
			return nil, 0, err
		}
		pipeline.AssignEventIDs(log)
		recs := make([]pipeline.Record, len(log))
		for j := range log {
			log[j].ObservedAt = observed
			v, err := enc.Encode(nil, &log[j])
			if err != nil {
				return nil, 0, err
			}
			recs[j] = pipeline.Record{Key: []byte(handles[i]), Value: v, Headers: []pipeline.Header{
				{Key: pipeline.HeaderEventID, Value: []byte(log[j].EventID)},
				{Key: pipeline.HeaderContentType, Value: contentType},
			}}
		}
		out[i] = recs
	}
	return out, size, nil
}

// publishAll publishes each batch with one Publish call, concurrency at once.
func publishAll(ctx context.Context, sink pipeline.Sink, batches [][]pipeline.Record, concurrency int) error {
	work := make(chan []pipeline.Record)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for recs := range work {
				if err := sink.Publish(ctx, recs); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, recs := range batches {
		work <- recs
	}
	close(work)
	wg.Wait()
	return first
}
