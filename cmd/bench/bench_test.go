package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// simBody returns a getAssetJobLogs response body of n entries as the
// simulator serves it, gzip-decoded.
func simBody(tb testing.TB, n int) []byte {
	tb.Helper()
	sim := ipstest.NewServer(ipstest.WithCatalog(1, n))
	defer sim.Close()
	bodies, err := captureBodies(context.Background(), sim.URL(), []string{sim.AssetHandle(0)})
	if err != nil {
		tb.Fatal(err)
	}
	return bodies[0]
}

// BenchmarkDecodeResponseSize decodes simulator responses of 1,000 and
// 10,000 entries. Besides B/op it reports the body size, the bytes still
// reachable after the decode (the entries themselves), the bytes allocated
// per entry, and the transient bytes (allocated but not retained) per
// response: with a streaming decoder the transient part must not grow with
// the body the way a buffered decoder's would (body size or more).
func BenchmarkDecodeResponseSize(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		body := simBody(b, n)
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ips.DecodeAssetJobLogs(bytes.NewReader(body), simCompany, "a|6|1|0"); err != nil {
					b.Fatal(err)
				}
			}
			alloc, retained := decodeMemory(b, body)
			b.ReportMetric(float64(len(body)), "body-B")
			b.ReportMetric(float64(alloc)/float64(n), "alloc-B/entry")
			b.ReportMetric(float64(retained), "retained-B")
			b.ReportMetric(float64(alloc-retained), "transient-B")
		})
	}
}

// decodeMemory decodes body once and returns the bytes allocated and the
// bytes still reachable while the result is held.
func decodeMemory(tb testing.TB, body []byte) (alloc, retained uint64) {
	var before, after, held runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	log, _, err := ips.DecodeAssetJobLogs(bytes.NewReader(body), simCompany, "a|6|1|0")
	if err != nil {
		tb.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	runtime.GC()
	runtime.ReadMemStats(&held)
	runtime.KeepAlive(log)
	return after.TotalAlloc - before.TotalAlloc, held.HeapAlloc - min(before.HeapAlloc, held.HeapAlloc)
}

// BenchmarkBoltCommitAsset commits asset checkpoints to a bbolt state file
// from 1, 8 and 64 goroutines at once (the poller's workers): bbolt's Batch
// gathers concurrent commits into one fsync'd transaction, so commits/s
// should grow with the number of workers while each commit waits longer.
func BenchmarkBoltCommitAsset(b *testing.B) {
	for _, workers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			store, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			cp := pipeline.AssetCheckpoint{Watermark: time.Now().UTC().Truncate(time.Millisecond),
				Recent: map[string]int64{"0123456789abcdef0123456789abcdef": 1}}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + workers - 1) / workers
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per && w*per+i < b.N; i++ {
						k := pipeline.AssetKey{CompanyHandle: simCompany, AssetHandle: "a|6|1|" + strconv.FormatInt(next.Add(1)%10000, 10)}
						if err := store.CommitAsset(k, cp); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}
