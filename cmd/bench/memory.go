package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// scenarioMemory runs the producer program (a child process) against an
// ips-sim child serving mem-assets assets × mem-entries entries, with a
// state file in which every asset is already tracked, so the round fetches
// and decodes full-size logs and publishes nothing new. A whole round is
// too long to run here (100 million entries), so the producer is stopped
// after -mem-for: the figures cover the assets it polled by then, with the
// whole asset list loaded and the whole state open. Peak RSS is the
// highest VmHWM read from /proc/<pid>/status (sampled every 100 ms; the
// high-water mark only grows, so a sample misses at most the last 100 ms).
func scenarioMemory(ctx context.Context, e *env, c *collector, notes *[]string) error {
	cfg := e.cfg
	if err := e.build(ctx, "ips-sim", "producer"); err != nil {
		return err
	}
	sim, url, err := e.startSim("-assets", strconv.Itoa(cfg.MemAssets), "-entries", strconv.Itoa(cfg.MemEntries))
	if err != nil {
		return err
	}
	defer sim.stop(5 * time.Second)
	// Every base entry is older than the simulator's start minus BaseAge,
	// and the simulator started before now.
	watermark := time.Now().Add(-ipstest.BaseAge)

	handles := assetHandles(cfg.MemAssets)
	assetsFile := filepath.Join(e.dir, "memory-assets.txt")
	if err := os.WriteFile(assetsFile, []byte(strings.Join(handles, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	state := filepath.Join(e.dir, "memory.db")
	store, err := boltstore.Open(state)
	if err != nil {
		return err
	}
	t0 := time.Now()
	err = trackAll(store, handles, watermark, true)
	store.Close()
	if err != nil {
		return fmt.Errorf("pre-populate state: %w", err)
	}
	fi, _ := os.Stat(state)
	fmt.Fprintf(e.log, "bench: memory: %d checkpoints written in %s (%d KB)\n", len(handles), time.Since(t0).Round(time.Millisecond), fi.Size()/1024)

	b, err := e.newBroker("memory")
	if err != nil {
		return err
	}
	defer b.Close()
	if b.create {
		// The producer creates it (-create-topic); nothing to do here.
	}
	for range cfg.Runs {
		if err := memoryRun(ctx, e, c, url, b, assetsFile, state); err != nil {
			return err
		}
	}
	c.target("producer peak RSS (VmHWM)", "<=", 150)
	*notes = append(*notes, fmt.Sprintf("memory: producer program tracking %d assets (asset list and bbolt state of %d KB, every asset tracked) "+
		"against %d-entry logs; stopped after %s, so one round covers only the assets polled by then (see the figure)",
		cfg.MemAssets, fi.Size()/1024, cfg.MemEntries, cfg.MemFor))
	return nil
}

func memoryRun(ctx context.Context, e *env, c *collector, url string, b *broker, assetsFile, state string) error {
	cfg := e.cfg
	p, err := e.startProducer(url, b, state, "-assets-file", assetsFile, "-shutdown-timeout", "10s")
	if err != nil {
		return err
	}
	p.wait()
	begin := time.Now()
	hwm, rss, err := p.sampleMemory(ctx, cfg.MemFor)
	if err != nil {
		return err
	}
	elapsed := time.Since(begin)
	// ru_maxrss is not used: Linux carries a process's maxrss across
	// exec, so a child's figure can be the bench's own RSS at fork time.
	// VmHWM belongs to the producer's own address space.
	var cpu time.Duration
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	sum, ok := roundSummary(p.stderr.String())
	assets := sum.Assets
	if !ok || assets <= 0 {
		return fmt.Errorf("producer reported no round summary (exit %v): %s", p.err, tail(p.stderr.String(), 800))
	}
	c.add("producer peak RSS (VmHWM)", "MB", float64(hwm)/1024)
	c.add("producer largest sampled RSS (VmRSS)", "MB", float64(rss)/1024)
	c.add("assets polled before stop (sample of the round)", "assets", float64(assets))
	c.add("entries fetched and decoded", "entries", float64(assets*cfg.MemEntries))
	c.add("producer CPU per entry (fetch+decode+dedup)", "µs", float64(cpu.Microseconds())/float64(assets*cfg.MemEntries))
	c.add("producer run time", "s", elapsed.Seconds())
	return nil
}

// procMemory returns VmHWM and VmRSS of a process in kB (0 when gone).
func procMemory(pid int) (hwm, rss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		}
	}
	return hwm, rss
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// sampleMemory waits for the child to exit and returns its peak memory
// (VmHWM) and the largest resident size it saw (VmRSS), in kB, sampled every
// 100 ms. With stopAfter > 0 it stops the child (SIGTERM) after that long,
// and kills it 30 s later. A cancelled ctx stops the child and returns
// ctx.Err().
func (c *child) sampleMemory(ctx context.Context, stopAfter time.Duration) (hwm, rss int64, err error) {
	pid := c.cmd.Process.Pid
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	var deadline <-chan time.Time
	if stopAfter > 0 {
		deadline = time.After(stopAfter)
	}
	stopped := false
	for {
		select {
		case <-c.done:
			return hwm, rss, nil
		case <-ticker.C:
			h, r := procMemory(pid)
			hwm, rss = max(hwm, h), max(rss, r)
		case <-deadline:
			if !stopped {
				stopped = true
				_ = c.cmd.Process.Signal(syscall.SIGTERM)
				deadline = time.After(30 * time.Second)
			} else {
				_ = c.cmd.Process.Kill()
			}
		case <-ctx.Done():
			c.stop(5 * time.Second)
			return hwm, rss, ctx.Err()
		}
	}
}
