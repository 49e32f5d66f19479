package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// buildProducer builds the producer binary into t.TempDir (the build cache
// makes the second build of a test run a link only).
func buildProducer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "producer")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// TestCrashLoop kills a -once backfill with SIGKILL at random moments,
// restarting it on the same state each time, then lets it finish: every
// entry is in the topic exactly once (what a kill left published but not
// committed is read back at the next start, not published again), the
// state file opens cleanly and one more run publishes nothing.
//
// The catalog holds a few malformed entries (the first entry of every
// CRASHLOOP_MALFORMED-th asset, default 500; 0: none): each must be on the
// dead-letter topic, and the duplicates there are counted.
//
// CRASHLOOP_KILLS (default 5), CRASHLOOP_ASSETS (default 1500) and
// CRASHLOOP_SEED set the size and the random moments; CRASHLOOP_BROKERS
// runs against external plaintext brokers (a fresh topic is created) instead
// of an embedded one. scripts/crashloop.sh runs the long form.
func TestCrashLoop(t *testing.T) {
	kills := envInt(t, "CRASHLOOP_KILLS", 5)
	assets := envInt(t, "CRASHLOOP_ASSETS", 3000)
	// Each IPS call takes this long, so that the backfill lasts long enough
	// for every kill (at most 0.8s apart) to land during it: 3,000 assets at
	// 8 calls in flight take at least 7.5s.
	latency := time.Duration(envInt(t, "CRASHLOOP_LATENCY_MS", 20)) * time.Millisecond
	seed := uint64(envInt(t, "CRASHLOOP_SEED", int(time.Now().UnixNano()%1e9)))
	malformedEvery := envInt(t, "CRASHLOOP_MALFORMED", 500)
	t.Logf("crash loop: %d kills, %d assets, %s per IPS call, seed %d (CRASHLOOP_SEED reproduces the moments)", kills, assets, latency, seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	bin := buildProducer(t)

	sim := ipstest.NewServer(ipstest.WithCredentials(testUser, testPassword), ipstest.WithCatalog(assets, 3), ipstest.WithLatency(latency),
		ipstest.WithMalformedEntries(malformedEvery))
	t.Cleanup(sim.Close)
	s := &stack{sim: sim, state: filepath.Join(t.TempDir(), "state.db")}
	topic := testTopic
	dlq := testDeadLetterTopic
	// -create-topic creates the dead-letter topic (and the topic, on
	// external brokers).
	extra := []string{"-create-topic"}
	if b := os.Getenv("CRASHLOOP_BROKERS"); b != "" {
		s.brokers = strings.Split(b, ",")
		topic = fmt.Sprintf("crashloop-%d", time.Now().UnixNano())
		dlq = topic + "-dead-letters"
	} else {
		s.brokers, s.cluster = kafkatest.NewCluster(t, testTopic, 3)
	}
	args := append(childArgs(t, s, extra...), "-topic", topic, "-dead-letter-topic", dlq, "-concurrency", "8")

	start := func() (*exec.Cmd, chan error, *syncBuffer) {
		cmd := childCommand(context.Background(), bin, args...)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		return cmd, exited, &stderr
	}

	done := false
	killed := 0
	var readBacks []readBack
	for run := 0; killed < kills; run++ {
		if run > 4*kills+4 {
			t.Fatalf("only %d kills landed during the backfill in %d runs", killed, run)
		}
		cmd, exited, stderr := start()
		if run == 0 {
			// The password is never on the command line (visible in ps).
			if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid)); err == nil &&
				strings.Contains(string(cmdline), testPassword) {
				t.Error("the IPS password is visible in the process's command line")
			}
		}
		wait := time.Duration(100+rng.IntN(700)) * time.Millisecond
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("run %d exited by itself: %v\n%s", run, err, tail(stderr.String(), 10))
			}
			done = true
		case <-time.After(wait):
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err := <-exited
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
				killed++
			} else if err != nil {
				t.Fatalf("run %d: %v\n%s", run, err, tail(stderr.String(), 10))
			} else {
				done = true
			}
		}
		if run > 0 {
			readBacks = append(readBacks, readBacksIn(stderr.String())...)
		}
		if done {
			break
		}
	}
	if killed < kills {
		t.Fatalf("the backfill finished after %d of %d kills: raise CRASHLOOP_ASSETS", killed, kills)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	out, err := childCommand(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("final run: %v\n%s", err, tail(string(out), 10))
	}
	readBacks = append(readBacks, readBacksIn(string(out))...)
	logReadBacks(t, readBacks)

	want := s.expected(t)
	got := readTopic(t, s.brokers, topic, len(want))
	dups := checkNoneLost(t, got, want)
	malformed := 0
	for _, e := range sim.AllEntries() {
		if e.Malformed {
			malformed++
		}
	}
	letters, dlDups := 0, 0
	if malformed > 0 {
		ids := map[string]int{}
		for _, m := range kafkatest.ReadAll(t, s.brokers, dlq, malformed, 30*time.Second) {
			ids[header(m, pipeline.HeaderEventID)]++
			letters++
		}
		dlDups = letters - len(ids)
		if len(ids) != malformed {
			t.Errorf("dead letters: %d distinct for %d malformed entries", len(ids), malformed)
		}
	}
	t.Logf("crash loop: dead letters: %d records for %d malformed entries, %d duplicates", letters, malformed, dlDups)
	if dlDups != 0 {
		t.Errorf("%d duplicate dead letters after %d SIGKILLs, want none", dlDups, killed)
	}
	t.Logf("crash loop: %d SIGKILLs; %d records for %d entries; 0 missing, %d duplicates", killed, len(got), len(want), dups)
	if dups != 0 {
		t.Errorf("%d duplicate records after %d SIGKILLs, want none: what a killed run published but did not commit "+
			"must be found on the topic at the next start", dups, killed)
	}

	st, err := boltstore.Open(s.state)
	if err != nil {
		t.Fatalf("state after the crash loop: %v", err)
	}
	committed, _, err := st.Stats()
	st.Close()
	if err != nil || committed != assets {
		t.Errorf("state holds %d assets (%v), want %d", committed, err, assets)
	}
	if out, err := childCommand(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("run after the loop: %v\n%s", err, tail(string(out), 10))
	}
	msgs, err := kafkatest.Read(ctx, s.brokers, topic, len(got))
	if err != nil || len(msgs) != len(got) {
		t.Errorf("records after one more run: got %d (%v), want %d (nothing new)", len(msgs), err, len(got))
	}
}

// readBack is one start-up read-back of the topic, as the producer logs it.
type readBack struct {
	Records  int   `json:"records_read"`
	Found    int   `json:"entries_found"`
	Duration int64 `json:"duration_ms"`
}

// readBacksIn returns the start-up read-backs a run logged.
func readBacksIn(log string) []readBack {
	var out []readBack
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"msg":"topic read back"`) {
			continue
		}
		var r readBack
		if json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// logReadBacks logs the median and largest start-up read-back after a kill.
func logReadBacks(t *testing.T, rbs []readBack) {
	t.Helper()
	if len(rbs) == 0 {
		t.Log("crash loop: no start-up read-back was logged")
		return
	}
	median := func(f func(readBack) int64) (int64, int64) {
		v := make([]int64, len(rbs))
		for i, r := range rbs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2], v[len(v)-1]
	}
	rec, recMax := median(func(r readBack) int64 { return int64(r.Records) })
	found, foundMax := median(func(r readBack) int64 { return int64(r.Found) })
	ms, msMax := median(func(r readBack) int64 { return r.Duration })
	t.Logf("crash loop: start-up read-back after a kill (%d starts): records read median %d (max %d), entries found median %d (max %d), "+
		"duration median %d ms (max %d ms)", len(rbs), rec, recMax, found, foundMax, ms, msMax)
}
