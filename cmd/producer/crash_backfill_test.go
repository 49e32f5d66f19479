package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// TestCrashLoopDuringBackfill kills a -discover -backfill run with SIGKILL
// at random moments and restarts it on the same state: every entry reaches
// the topic exactly once, and each restart resumes the backfill where the
// last committed progress left it instead of starting over.
//
// CRASHLOOP_KILLS (default 4), CRASHLOOP_ASSETS (default 4000) and
// CRASHLOOP_SEED set the size and the random moments; CRASHLOOP_BROKERS
// runs against external plaintext brokers (a fresh topic is created).
func TestCrashLoopDuringBackfill(t *testing.T) {
	kills := envInt(t, "CRASHLOOP_KILLS", 4)
	assets := envInt(t, "CRASHLOOP_ASSETS", 4000)
	seed := uint64(envInt(t, "CRASHLOOP_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("backfill crash loop: %d kills, %d assets, seed %d", kills, assets, seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	bin := buildProducer(t)

	// 20ms a call at 8 in flight: 4,000 assets take at least 10s, so that
	// each kill lands during the backfill, after at least one progress
	// commit (every second).
	sim := ipstest.NewServer(ipstest.WithCredentials(testUser, testPassword), ipstest.WithCatalog(assets, 2),
		ipstest.WithLatency(20*time.Millisecond))
	t.Cleanup(sim.Close)
	s := &stack{sim: sim, state: filepath.Join(t.TempDir(), "state.db")}
	topic := testTopic
	var extra []string
	if b := os.Getenv("CRASHLOOP_BROKERS"); b != "" {
		s.brokers = strings.Split(b, ",")
		topic = fmt.Sprintf("crashloop-backfill-%d", time.Now().UnixNano())
		extra = []string{"-create-topic"}
	} else {
		s.brokers, s.cluster = kafkatest.NewCluster(t, testTopic, 3)
	}
	args := append(s.catalogArgs("-discover", "-backfill", "-since", "1h", "-once", "-progress", "off",
		"-shutdown-timeout", "2s", "-concurrency", "8"), extra...)
	args = append(args, "-topic", topic)

	progress := func() pipeline.BackfillCheckpoint {
		st, err := boltstore.Open(s.state)
		if err != nil {
			t.Fatalf("state after a kill: %v", err)
		}
		defer st.Close()
		bf, err := st.LoadBackfill(sim.CompanyHandle(), "")
		if err != nil {
			t.Fatal(err)
		}
		return bf
	}

	killed, resumed := 0, 0
	last := 0
	for run := 0; killed < kills; run++ {
		if run > 3*kills {
			t.Fatalf("only %d kills landed during the backfill in %d runs", killed, run)
		}
		cmd := childCommand(context.Background(), bin, args...)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			t.Fatalf("run %d ended before its kill (%v): raise CRASHLOOP_ASSETS\n%s", run, err, tail(stderr.String(), 5))
		case <-time.After(time.Duration(1200+rng.IntN(1500)) * time.Millisecond):
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := <-exited
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
			t.Fatalf("run %d: %v", run, err)
		}
		killed++
		bf := progress()
		if bf.Complete {
			t.Fatalf("the backfill completed before kill %d: raise CRASHLOOP_ASSETS", killed)
		}
		if bf.Done < last {
			t.Errorf("kill %d: backfill progress went back from %d to %d", killed, last, bf.Done)
		}
		if bf.Done > last {
			resumed++
		}
		t.Logf("kill %d: %d of %d assets done", killed, bf.Done, assets)
		last = bf.Done
	}
	if resumed < kills-1 {
		t.Errorf("the backfill's progress advanced in only %d of %d killed runs: it does not resume", resumed, kills)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	sim.ResetCalls()
	out, err := childCommand(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("final run: %v\n%s", err, tail(string(out), 10))
	}
	// The final run lists the catalog again and works only on what the
	// progress left, plus the assets in flight at the kill.
	if calls := sim.Calls(ipstest.OpGetAssetJobLogs); calls > assets-last+200 {
		t.Errorf("final run: %d getAssetJobLogs calls with %d of %d assets done before it, want it to resume", calls, last, assets)
	} else {
		t.Logf("final run: %d getAssetJobLogs calls for the %d assets left", calls, assets-last)
	}
	if bf := progress(); !bf.Complete {
		t.Errorf("backfill not complete after the final run: %+v", bf)
	}
	want := s.expected(t)
	got := readTopic(t, s.brokers, topic, len(want))
	dups := checkNoneLost(t, got, want)
	t.Logf("backfill crash loop: %d SIGKILLs; %d records for %d entries; %d duplicates", killed, len(got), len(want), dups)
	if dups != 0 {
		t.Errorf("%d duplicate records after %d SIGKILLs, want none", dups, killed)
	}
}
