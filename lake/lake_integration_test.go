//go:build integration

package lake_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

const (
	testUser     = "api@example.com"
	testPassword = "lake-test-secret"
	emailKey     = "lake-test-hmac-key"
	// sparkTZ is the zone the Spark JVM runs in: far from UTC, so a job
	// that took date(logDate) in the JVM's zone would file rows under the
	// wrong day.
	sparkTZ = "Pacific/Kiritimati"
)

// lakeTools returns the lake venv's python and the jars directory that
// scripts/lake.sh prepared.
func lakeTools(t testing.TB) (python, jars string) {
	t.Helper()
	python, jars = os.Getenv("ASSETJOBLOG_LAKE_PYTHON"), os.Getenv("ASSETJOBLOG_LAKE_JARS")
	if python == "" || jars == "" {
		const howTo = `ASSETJOBLOG_LAKE_PYTHON or ASSETJOBLOG_LAKE_JARS not set: run eval "$(scripts/lake.sh env)" to run the Spark and Delta checks`
		if os.Getenv("CI") != "" {
			t.Fatal(howTo)
		}
		t.Skip(howTo)
	}
	return python, jars
}

// clock is the simulator's clock, moved by the test from day to day.
type clock struct{ ms atomic.Int64 }

func (c *clock) Now() time.Time { return time.UnixMilli(c.ms.Load()).UTC() }
func (c *clock) Set(s string)   { c.ms.Store(mustTime(s).UnixMilli()) }
func mustTime(s string) time.Time {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return v
}

// lakeRun is the producer, the Spark job and the checker around one IPS
// simulator and the real broker.
type lakeRun struct {
	brokers  []string
	sim      *ipstest.Server
	producer string
	assets   string
	python   string
	jars     string
	job      string
	checker  string
	dir      string
}

func newLakeRun(t testing.TB, sim *ipstest.Server) *lakeRun {
	t.Helper()
	brokers := kafkatest.RealBrokers(t)
	python, jars := lakeTools(t)
	dir := t.TempDir()
	l := &lakeRun{brokers: brokers, sim: sim, python: python, jars: jars, dir: dir,
		producer: filepath.Join(dir, "producer"), assets: filepath.Join(dir, "assets.txt")}
	var err error
	if l.job, err = filepath.Abs(filepath.Join("spark", "land_topic.py")); err != nil {
		t.Fatal(err)
	}
	if l.checker, err = filepath.Abs("check_table.py"); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", l.producer, "github.com/assetjoblog/assetjoblog/cmd/producer")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/producer: %v\n%s", err, out)
	}
	if err := os.WriteFile(l.assets, []byte(strings.Join(sim.AssetHandles(), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return l
}

// produce runs the producer binary once over every asset into topic.
func (l *lakeRun) produce(t testing.TB, topic, state string, env []string, extra ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := append([]string{"-ips-url", l.sim.URL(), "-ips-user", testUser, "-company", l.sim.CompanyHandle(),
		"-assets-file", l.assets, "-brokers", strings.Join(l.brokers, ","), "-topic", topic,
		"-state", state, "-once", "-log-format", "json", "-progress", "off"}, extra...)
	cmd := exec.CommandContext(ctx, l.producer, args...)
	cmd.Env = append(os.Environ(), append([]string{"PRODUCER_IPS_PASSWORD=" + testPassword}, env...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("producer %s: %v\n%s", strings.Join(extra, " "), err, out)
	}
}

// landResult is the JSON line land_topic.py prints.
type landResult struct {
	Version      int64   `json:"version"`
	Seconds      float64 `json:"seconds"`
	Batches      int     `json:"batches"`
	RowsRead     int     `json:"rowsRead"`
	RowsInserted int     `json:"rowsInserted"`
}

// land runs the Spark job once over topic; extra options come last and
// win over the defaults (argparse keeps the last --brokers).
func (l *lakeRun) land(t testing.TB, topic, table, checkpoint, framing string, extra ...string) landResult {
	r, _ := l.landOutput(t, topic, table, checkpoint, framing, extra...)
	return r
}

// landOutput is land, also returning everything the job printed.
func (l *lakeRun) landOutput(t testing.TB, topic, table, checkpoint, framing string, extra ...string) (landResult, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	args := append([]string{l.job, "--brokers", strings.Join(l.brokers, ","), "--topic", topic,
		"--table", table, "--checkpoint", checkpoint, "--framing", framing, "--master", "local[2]",
		"--jars", l.jars}, extra...)
	cmd := exec.CommandContext(ctx, l.python, args...)
	cmd.Dir = l.dir
	cmd.Env = append(os.Environ(), "TZ="+sparkTZ, "SPARK_LOCAL_IP=127.0.0.1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("Spark job over %s (%s framing): %v\n%s", topic, framing, err, tail(stderr.String(), 60))
	}
	var r landResult
	if err := json.Unmarshal(lastLine(stdout.String()), &r); err != nil {
		t.Fatalf("Spark job printed no summary line (%v):\n%s", err, stdout.String())
	}
	t.Logf("integration: Spark job over %s (%s framing): %d batches, %d rows read, %d inserted, table version %d, %.1fs",
		topic, framing, r.Batches, r.RowsRead, r.RowsInserted, r.Version, r.Seconds)
	return r, stdout.String() + stderr.String()
}

// checkResult is the JSON line check_table.py prints.
type checkResult struct {
	Version          int64          `json:"version"`
	Rows             int            `json:"rows"`
	DistinctEventIDs int            `json:"distinctEventIds"`
	Files            int            `json:"files"`
	Days             map[string]int `json:"days"`
	AuxRows          int            `json:"auxRows"`
	Digest           string         `json:"digest"`
}

// check runs the independent reader over table against the entries the
// simulator serves now; it fails the test on any problem it reports.
func (l *lakeRun) check(t testing.TB, table string, emails func(string) string, observedMin, observedMax time.Time) checkResult {
	t.Helper()
	expected := filepath.Join(l.dir, "expected.jsonl")
	writeExpected(t, expected, l.sim, emails)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.python, l.checker, "--table", table, "--expected", expected,
		"--observed-min", fmt.Sprint(observedMin.UnixMilli()), "--observed-max", fmt.Sprint(observedMax.UnixMilli()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the Delta table %s does not hold what IPS served (%v):\n%s\n%s", table, err, stderr.String(), stdout.String())
	}
	var r checkResult
	if err := json.Unmarshal(lastLine(stdout.String()), &r); err != nil {
		t.Fatalf("check_table.py printed no summary line (%v):\n%s", err, stdout.String())
	}
	t.Logf("integration: delta-rs reads %s: %d rows (%d distinct eventIds, %d aux rows) in %d files, days %v, version %d",
		filepath.Base(table), r.Rows, r.DistinctEventIDs, r.AuxRows, r.Files, r.Days, r.Version)
	return r
}

// expectedEntry is one line of the checker's --expected file.
type expectedEntry struct {
	EventID         string        `json:"eventId"`
	CompanyHandle   string        `json:"companyHandle"`
	AssetHandle     string        `json:"assetHandle"`
	JobHandle       string        `json:"jobHandle"`
	JobName         string        `json:"jobName"`
	LogMessage      string        `json:"logMessage"`
	LogType         string        `json:"logType"`
	SubmitUserEmail string        `json:"submitUserEmail"`
	LogDateMillis   int64         `json:"logDateMillis"`
	AuxArray        []expectedAux `json:"auxArray"`
}

type expectedAux struct {
	LogMessage        string  `json:"logMessage"`
	LogType           string  `json:"logType"`
	DateCreatedMillis *int64  `json:"dateCreatedMillis"`
	AssetName         *string `json:"assetName"`
	AssetType         *string `json:"assetType"`
	AssetHandle       *string `json:"assetHandle"`
}

// writeExpected writes every entry the simulator serves, with the event ids
// the producer must give them and submitUserEmail as emails maps it.
func writeExpected(t testing.TB, path string, sim *ipstest.Server, emails func(string) string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range sim.AssetHandles() {
		var log []pipeline.AssetJobLog
		for _, e := range sim.Entries(i) {
			log = append(log, e.AssetJobLog())
		}
		pipeline.AssignEventIDs(log)
		for _, e := range log {
			x := expectedEntry{EventID: e.EventID, CompanyHandle: e.CompanyHandle, AssetHandle: e.AssetHandle,
				JobHandle: e.JobHandle, JobName: e.JobName, LogMessage: e.LogMessage, LogType: e.LogType,
				SubmitUserEmail: emails(e.SubmitUserEmail), LogDateMillis: e.LogDate.UnixMilli(),
				AuxArray: []expectedAux{}}
			for _, a := range e.AuxArray {
				ea := expectedAux{LogMessage: a.LogMessage, LogType: a.LogType, AssetName: a.AssetName,
					AssetType: a.AssetType, AssetHandle: a.AssetHandle}
				if a.DateCreated != nil {
					ms := a.DateCreated.UnixMilli()
					ea.DateCreatedMillis = &ms
				}
				x.AuxArray = append(x.AuxArray, ea)
			}
			if err := enc.Encode(x); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func keepEmail(s string) string { return s }

// hashEmail is what -user-email hash must write: "hmac-sha256:" and the
// hex HMAC-SHA-256 of the address under the key; empty stays empty.
func hashEmail(s string) string {
	if s == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(emailKey))
	m.Write([]byte(s))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

func lastLine(s string) []byte {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return []byte(lines[len(lines)-1])
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestIntegrationLakeDelta publishes a simulator catalog to the real broker,
// lands it in Delta tables with the Spark job and checks each table with
// delta-rs: the first landing, new activity, a run with nothing new, a run
// without its checkpoint, and the Confluent framing with hashed e-mails.
func TestIntegrationLakeDelta(t *testing.T) {
	var clk clock
	// The base catalog (1,000 assets × 3 entries) spans the 30 minutes
	// around midnight UTC, 30 days before the start.
	clk.Set("2026-03-04T00:10:00Z")
	sim := ipstest.NewServer(ipstest.WithCredentials(testUser, testPassword), ipstest.WithCatalog(1000, 3),
		ipstest.WithClock(clk.Now))
	t.Cleanup(sim.Close)
	l := newLakeRun(t, sim)
	// Two more days of activity. IPS writes dates at -07:00: 03:00 UTC on
	// 7 March is still 6 March in IPS's zone, and must land under 7 March.
	clk.Set("2026-03-05T09:00:00.250Z")
	sim.AddActivity(seq(0, 300), 2)
	clk.Set("2026-03-07T03:00:00Z")
	sim.AddActivity(seq(300, 600), 1)

	topic := kafkatest.CreateTopic(t, l.brokers, 3)
	table, checkpoint := filepath.Join(l.dir, "single", "table"), filepath.Join(l.dir, "single", "_checkpoint")
	state := filepath.Join(l.dir, "single.state")
	start := time.Now()
	l.produce(t, topic, state, nil)
	first := l.land(t, topic, table, checkpoint, "single")
	c1 := l.check(t, table, keepEmail, start, time.Now())
	if c1.Rows != 3900 || len(c1.Days) < 4 || c1.AuxRows == 0 {
		t.Fatalf("first landing: %d rows over days %v with %d aux rows, want 3900 rows over 4 days and aux rows", c1.Rows, c1.Days, c1.AuxRows)
	}
	if day := c1.Days["2026-03-07"]; day != 300 {
		t.Errorf("logDay 2026-03-07 holds %d rows, want the 300 written at 03:00 UTC (20:00 the day before at -07:00)", day)
	}
	if first.RowsInserted != c1.Rows {
		t.Errorf("the job reports %d rows inserted, the table holds %d", first.RowsInserted, c1.Rows)
	}

	t.Run("NewActivityLandsExactlyTheNewRows", func(t *testing.T) {
		clk.Set("2026-03-08T12:00:00Z")
		var every5 []int
		for i := 0; i < 1000; i += 5 {
			every5 = append(every5, i)
		}
		sim.AddActivity(every5, 1)
		l.produce(t, topic, state, nil)
		r := l.land(t, topic, table, checkpoint, "single")
		c2 := l.check(t, table, keepEmail, start, time.Now())
		if c2.Rows-c1.Rows != len(every5) || r.RowsRead != len(every5) || r.RowsInserted != len(every5) {
			t.Fatalf("after %d new entries: table grew from %d to %d rows, the job read %d and inserted %d",
				len(every5), c1.Rows, c2.Rows, r.RowsRead, r.RowsInserted)
		}
		if c2.Version != c1.Version+1 {
			t.Errorf("table version went from %d to %d, want one commit for the new rows", c1.Version, c2.Version)
		}

		t.Run("NothingNewLeavesTheTableUnchanged", func(t *testing.T) {
			r := l.land(t, topic, table, checkpoint, "single")
			c3 := l.check(t, table, keepEmail, start, time.Now())
			if c3.Version != c2.Version || c3.Digest != c2.Digest || r.Batches != 0 {
				t.Fatalf("a run with nothing new: version %d -> %d, digest changed %v, %d batches; want no change and no batch",
					c2.Version, c3.Version, c3.Digest != c2.Digest, r.Batches)
			}
		})

		t.Run("RerunWithoutCheckpointAddsNoDuplicate", func(t *testing.T) {
			if err := os.RemoveAll(checkpoint); err != nil {
				t.Fatal(err)
			}
			r := l.land(t, topic, table, checkpoint, "single")
			c4 := l.check(t, table, keepEmail, start, time.Now())
			if r.RowsRead != c2.Rows || r.RowsInserted != 0 || c4.Rows != c2.Rows || c4.Digest != c2.Digest {
				t.Fatalf("re-run over the whole topic: read %d, inserted %d, table %d rows (was %d), digest changed %v; want all read, none inserted, content unchanged",
					r.RowsRead, r.RowsInserted, c4.Rows, c2.Rows, c4.Digest != c2.Digest)
			}
		})
	})

	t.Run("ConfluentFramingHashedEmailOverSASLSSL", func(t *testing.T) {
		brokers, props, password := secureKafka(t, l.dir)
		reg := srfake.New()
		defer reg.Close()
		topic := kafkatest.CreateTopic(t, l.brokers, 3)
		table := filepath.Join(l.dir, "confluent", "table")
		env := []string{"PRODUCER_USER_EMAIL_KEY=" + emailKey}
		confluent := []string{"-schema-registry", reg.URL(), "-user-email", "hash"}
		start := time.Now()
		l.produce(t, topic, filepath.Join(l.dir, "confluent.state"), env, confluent...)
		// A producer that lost its state publishes everything again: same
		// eventIds, later observedAt, all in the same micro-batch.
		firstDone := time.Now()
		l.produce(t, topic, filepath.Join(l.dir, "confluent-lost.state"), env, confluent...)
		id := registeredID(t, reg.URL(), topic+"-value")
		r, out := l.landOutput(t, topic, table, filepath.Join(l.dir, "confluent", "_checkpoint"), "confluent",
			"--brokers", brokers, "--kafka-properties", props, "--confluent-schema-id", fmt.Sprint(id))
		want := sim.TotalEntries()
		if r.RowsRead != 2*want || r.RowsInserted != want {
			t.Fatalf("topic with every entry twice: the job read %d and inserted %d, want %d and %d", r.RowsRead, r.RowsInserted, 2*want, want)
		}
		if strings.Contains(out, password) {
			t.Errorf("the Spark job's output contains the SASL password")
		}
		// observedAt of the first publication: the MERGE kept the lowest offset.
		c := l.check(t, table, hashEmail, start, firstDone)
		if c.Rows != want {
			t.Fatalf("Confluent-framed topic: %d rows, want %d", c.Rows, want)
		}
	})
}

// registeredID returns the id of the latest schema of subject.
func registeredID(t *testing.T, url, subject string) int {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	s, err := cl.SchemaByVersion(t.Context(), subject, -1)
	if err != nil {
		t.Fatalf("schema of %s: %v", subject, err)
	}
	return s.ID
}

// secureKafka returns the real broker's SASL_SSL listener and a Kafka
// properties file for it (SCRAM-SHA-512, the broker's CA as a PEM trust
// store), with the password it holds.
func secureKafka(t *testing.T, dir string) (brokers, props, password string) {
	t.Helper()
	brokers, ca := os.Getenv("KAFKA_SASL_SSL_BROKERS"), os.Getenv("KAFKA_CA_FILE")
	user, pwFile := os.Getenv("KAFKA_SASL_USER"), os.Getenv("KAFKA_SASL_PASSWORD_FILE")
	if brokers == "" || ca == "" || user == "" || pwFile == "" {
		const howTo = "KAFKA_SASL_SSL_BROKERS, KAFKA_CA_FILE, KAFKA_SASL_USER, KAFKA_SASL_PASSWORD_FILE not set: " +
			`run scripts/kafka.sh up and eval "$(scripts/kafka.sh env)"`
		if os.Getenv("CI") != "" {
			t.Fatal(howTo)
		}
		t.Skip(howTo)
	}
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	password = strings.TrimSpace(string(pw))
	props = filepath.Join(dir, "kafka.properties")
	body := fmt.Sprintf("# SASL_SSL listener of the test broker\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"+
		"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=%q password=%q;\n"+
		"ssl.truststore.type=PEM\nssl.truststore.location=%s\n", user, password, ca)
	if err := os.WriteFile(props, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return brokers, props, password
}

func seq(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// BenchmarkLandTopic measures one run of the Spark job over a topic of
// 100,000 records (1,000 assets × 100 entries) into a new table, JVM start
// included: go test -tags integration -run '^$' -bench LandTopic -benchtime 3x ./lake/
func BenchmarkLandTopic(b *testing.B) {
	const assets, entries = 1000, 100
	sim := ipstest.NewServer(ipstest.WithCredentials(testUser, testPassword), ipstest.WithCatalog(assets, entries))
	b.Cleanup(sim.Close)
	l := newLakeRun(b, sim)
	topic := kafkatest.CreateTopic(b, l.brokers, 3)
	l.produce(b, topic, filepath.Join(l.dir, "bench.state"), nil)
	b.ResetTimer()
	for i := range b.N {
		dir := filepath.Join(l.dir, fmt.Sprint("run", i))
		t0 := time.Now()
		r := l.land(b, topic, filepath.Join(dir, "table"), filepath.Join(dir, "_checkpoint"), "single")
		if r.RowsInserted != assets*entries {
			b.Fatalf("run %d inserted %d rows, want %d", i, r.RowsInserted, assets*entries)
		}
		b.Logf("run %d: %d records in %.1f s wall (%.1f s inside the job)", i, r.RowsRead, time.Since(t0).Seconds(), r.Seconds)
	}
	b.ReportMetric(float64(assets*entries)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
