package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// Credentials of the simulator (its defaults); nothing here is a secret.
const (
	simCompany  = "c|6"
	simUser     = "api@example.com"
	simPassword = "secret"
	topicPrefix = "assetjoblog-bench"
)

// env is what the scenarios share: the work directory, the built programs
// and the broker choice.
type env struct {
	cfg    *config
	dir    string
	bins   map[string]string
	log    io.Writer
	topics int
}

// build compiles the named commands of the module into the work directory.
func (e *env) build(ctx context.Context, names ...string) error {
	for _, name := range names {
		if _, ok := e.bins[name]; ok {
			continue
		}
		out := filepath.Join(e.dir, name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/assetjoblog/assetjoblog/cmd/"+name)
		cmd.Stderr = e.log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build cmd/%s: %w", name, err)
		}
		e.bins[name] = out
	}
	return nil
}

// child is a program the bench started.
type child struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (e *env) start(name string, args []string, extraEnv []string) (*child, io.Reader, error) {
	cmd := exec.Command(e.bins[name], args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	c := &child{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	return c, stdout, nil
}

func (c *child) wait() {
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
}

// stop sends SIGTERM and waits up to timeout, then kills.
func (c *child) stop(timeout time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// startProducer starts the producer program for one round (-once) against
// the simulator at url, publishing to b (creating its topic when b says so)
// with the state file state, logging JSON without a progress line. extra
// adds the flags that choose the assets and tune the round.
func (e *env) startProducer(url string, b *broker, state string, extra ...string) (*child, error) {
	args := append([]string{
		"-ips-url", url, "-ips-user", simUser, "-company", simCompany,
		"-brokers", strings.Join(b.addrs, ","), "-topic", b.topic, "-state", state, "-once",
		"-log-format", "json", "-progress", "off",
	}, extra...)
	if b.create {
		args = append(args, "-create-topic")
	}
	p, _, err := e.start("producer", args, []string{"PRODUCER_IPS_PASSWORD=" + simPassword})
	return p, err
}

// startSim starts cmd/ips-sim on a free loopback port and returns it with
// its endpoint URL.
func (e *env) startSim(args ...string) (*child, string, error) {
	c, stdout, err := e.start("ips-sim", append([]string{"-addr", "127.0.0.1:0"}, args...), nil)
	if err != nil {
		return nil, "", err
	}
	c.wait()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case url, ok := <-lines:
		if ok && strings.HasPrefix(url, "http") {
			return c, url, nil
		}
	case <-time.After(30 * time.Second):
	}
	c.stop(5 * time.Second)
	return nil, "", fmt.Errorf("ips-sim did not print its URL: %s", c.stderr.String())
}

// cpuTicks returns the user+system CPU time of a process from /proc.
func cpuTicks(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc stat format")
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz, nil
}

// selfCPU returns the user+system CPU time of this process so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// broker is the Kafka cluster and topic of one run.
type broker struct {
	addrs   []string
	topic   string
	create  bool // the sink must create the topic (a real broker)
	cluster *kafkatest.Cluster
}

// newBroker returns a fresh embedded cluster with its topic, or a new
// topic name on the real brokers of -brokers.
func (e *env) newBroker(name string) (*broker, error) {
	e.topics++
	if len(e.cfg.Brokers) > 0 {
		topic := fmt.Sprintf("%s-%s-%d-%d", topicPrefix, name, time.Now().Unix(), e.topics)
		return &broker{addrs: e.cfg.Brokers, topic: topic, create: true}, nil
	}
	topic := topicPrefix + "-" + name
	c, err := kafkatest.Start(topic, e.cfg.Partitions)
	if err != nil {
		return nil, err
	}
	return &broker{addrs: c.Brokers(), topic: topic, cluster: c}, nil
}

func (b *broker) Close() {
	if b.cluster != nil {
		b.cluster.Close()
	}
}

func (e *env) newSink(ctx context.Context, b *broker) (*kafka.Sink, error) {
	return kafka.NewSink(ctx, kafka.Config{
		Brokers: b.addrs, Topic: b.topic, CreateTopic: b.create, Partitions: e.cfg.Partitions,
		ReplicationFactor: -1,
	})
}

// newIPSClient returns a client configured as cmd/producer configures it
// (a clone of the default HTTP transport).
func newIPSClient(url string, transport http.RoundTripper) (*ips.Client, error) {
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return ips.New(ips.Config{
		URL: url, User: simUser, Password: simPassword,
		HTTPClient: &http.Client{Timeout: 2 * time.Minute, Transport: transport},
	})
}

// pipe is an in-process producer wired as cmd/producer wires it: IPS
// client, Avro single-object encoder, Kafka sink and bbolt state.
type pipe struct {
	poller *pipeline.Poller
	store  *boltstore.Store
	sink   *kafka.Sink
	phases *phases
}

// newPipe wires a poller; pc carries the mode (Assets or discover),
// concurrency and poll interval, the rest is filled in here.
func (e *env) newPipe(ctx context.Context, url string, b *broker, statePath string, pc pipeline.Config, discover bool) (*pipe, error) {
	client, err := newIPSClient(url, nil)
	if err != nil {
		return nil, err
	}
	enc, err := avro.NewSingleObjectEncoder()
	if err != nil {
		return nil, err
	}
	store, err := boltstore.Open(statePath)
	if err != nil {
		return nil, err
	}
	sink, err := e.newSink(ctx, b)
	if err != nil {
		store.Close()
		return nil, err
	}
	pc.CompanyHandle = simCompany
	ph := &phases{}
	pc.Source, pc.Encoder = timedSource{client, ph}, enc
	pc.Sink, pc.Checkpoints = timedSink{sink, ph}, timedCheckpoints{store, ph}
	pc.SourceRetry = pipeline.RetryPolicy{Retryable: ips.IsRetryable, Delay: ips.RetryAfter}
	pc.SinkRetry = pipeline.RetryPolicy{Retryable: kafka.IsRetryable}
	if e.cfg.Verbose {
		pc.Logger = slog.New(slog.NewTextHandler(e.log, nil))
	}
	if discover {
		pc.Discovery = &pipeline.DiscoveryConfig{Jobs: client, Checkpoints: store}
	}
	if e.cfg.Reconcile {
		pc.Reconcile = &pipeline.ReconcileConfig{Reader: sink, Partitioner: sink, Bounds: store, Settle: 2 * kafka.DefaultWriteTimeout}
	}
	poller, err := pipeline.NewPoller(pc)
	if err != nil {
		sink.Close()
		store.Close()
		return nil, err
	}
	return &pipe{poller: poller, store: store, sink: sink, phases: ph}, nil
}

func (p *pipe) Close() {
	p.sink.Close()
	p.store.Close()
}

// assetHandles returns the simulator's handles of assets [0, n) for the
// default company.
func assetHandles(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "a|6|1|" + strconv.Itoa(i)
	}
	return out
}

// trackAll writes a checkpoint for every asset of handles with the given
// watermark, as if each asset's whole log had been published, using
// concurrent commits so that bbolt batches them. withRecent adds one event
// id at the watermark, the size a real checkpoint has when entries are
// further apart than the late window.
func trackAll(store *boltstore.Store, handles []string, watermark time.Time, withRecent bool) error {
	const workers = 256
	work := make(chan string)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range work {
				cp := pipeline.AssetCheckpoint{Watermark: watermark}
				if withRecent {
					cp.Recent = map[string]int64{fmt.Sprintf("%032x", len(h)*7919+int(h[len(h)-1])): watermark.UnixMilli()}
				}
				if err := store.CommitAsset(pipeline.AssetKey{CompanyHandle: simCompany, AssetHandle: h}, cp); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
loop:
	for _, h := range handles {
		select {
		case work <- h:
		case err = <-errs:
			break loop
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}
