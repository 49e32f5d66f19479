package avro_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenSchemaID is the Schema Registry id the *.confluent.bin vectors carry.
const goldenSchemaID = 7

// goldenEntry is the JSON form of a golden input: Avro field names, times in
// avro.TimeLayout, null for absent optional fields (the form ToJSON writes).
type goldenEntry struct {
	EventID         string      `json:"eventId"`
	CompanyHandle   string      `json:"companyHandle"`
	AssetHandle     string      `json:"assetHandle"`
	JobHandle       string      `json:"jobHandle"`
	JobName         string      `json:"jobName"`
	LogMessage      string      `json:"logMessage"`
	LogType         string      `json:"logType"`
	SubmitUserEmail string      `json:"submitUserEmail"`
	LogDate         time.Time   `json:"logDate"`
	AuxArray        []goldenAux `json:"auxArray"`
	ObservedAt      time.Time   `json:"observedAt"`
}

type goldenAux struct {
	LogMessage  string     `json:"logMessage"`
	LogType     string     `json:"logType"`
	DateCreated *time.Time `json:"dateCreated"`
	AssetName   *string    `json:"assetName"`
	AssetType   *string    `json:"assetType"`
	AssetHandle *string    `json:"assetHandle"`
}

func (g goldenEntry) entry() *pipeline.AssetJobLog {
	l := &pipeline.AssetJobLog{
		EventID: g.EventID, CompanyHandle: g.CompanyHandle, AssetHandle: g.AssetHandle,
		JobHandle: g.JobHandle, JobName: g.JobName, LogMessage: g.LogMessage, LogType: g.LogType,
		SubmitUserEmail: g.SubmitUserEmail, LogDate: g.LogDate.UTC(), ObservedAt: g.ObservedAt.UTC(),
	}
	for _, a := range g.AuxArray {
		d := pipeline.JobLogDetail{
			LogMessage: a.LogMessage, LogType: a.LogType,
			AssetName: a.AssetName, AssetType: a.AssetType, AssetHandle: a.AssetHandle,
		}
		if a.DateCreated != nil {
			t := a.DateCreated.UTC()
			d.DateCreated = &t
		}
		l.AuxArray = append(l.AuxArray, d)
	}
	return l
}

type goldenCase struct {
	name  string
	input []byte
	entry *pipeline.AssetJobLog
}

func goldenCases(t testing.TB) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	for _, p := range paths {
		if filepath.Base(p) == "canonical.json" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var g goldenEntry
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&g); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		cases = append(cases, goldenCase{
			name:  strings.TrimSuffix(filepath.Base(p), ".json"),
			input: b,
			entry: g.entry(),
		})
	}
	if len(cases) < 3 {
		t.Fatalf("found %d golden inputs in testdata, want at least 3", len(cases))
	}
	return cases
}

// checkGolden compares got with the file, or rewrites it under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\n got %x\nwant %x", path, got, want)
	}
}

// newGoldenConfluentEncoder returns a Confluent encoder whose schema id is
// goldenSchemaID, found in a fake registry where the schema was registered
// beforehand.
func newGoldenConfluentEncoder(t testing.TB) *avro.Encoder {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	reg.SeedSchema("assetjoblog-value", 1, goldenSchemaID, sr.Schema{Schema: schemas.AssetJobLog, Type: sr.TypeAvro})
	enc, err := avro.NewConfluentEncoder(context.Background(), avro.RegistryConfig{URL: reg.URL(), Topic: "assetjoblog"})
	if err != nil {
		t.Fatal(err)
	}
	if got := enc.SchemaID(); got != goldenSchemaID {
		t.Fatalf("schema id %d, want %d", got, goldenSchemaID)
	}
	return enc
}

func TestGoldenVectors(t *testing.T) {
	single, err := avro.NewSingleObjectEncoder()
	if err != nil {
		t.Fatal(err)
	}
	confluent := newGoldenConfluentEncoder(t)

	for _, c := range goldenCases(t) {
		for _, f := range []struct {
			framing string
			enc     *avro.Encoder
		}{{"single", single}, {"confluent", confluent}} {
			t.Run(c.name+"/"+f.framing, func(t *testing.T) {
				got, err := f.enc.Encode(nil, c.entry)
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, filepath.Join("testdata", c.name+"."+f.framing+".bin"), got)

				back, err := avro.Decode(got)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(back, c.entry) {
					t.Errorf("decoded entry differs:\n got %+v\nwant %+v", back, c.entry)
				}

				js, err := avro.ToJSON(got)
				if err != nil {
					t.Fatal(err)
				}
				var gotJSON, wantJSON any
				if err := json.Unmarshal(js, &gotJSON); err != nil {
					t.Fatalf("ToJSON wrote invalid JSON %s: %v", js, err)
				}
				if err := json.Unmarshal(c.input, &wantJSON); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(gotJSON, wantJSON) {
					t.Errorf("ToJSON = %s\nwant the input %s", js, c.input)
				}
			})
		}
	}
}

func TestGoldenCanonicalForm(t *testing.T) {
	checkGolden(t, filepath.Join("testdata", "canonical.json"), []byte(avro.CanonicalForm()+"\n"))
}

// fingerprintFile is the content of testdata/fingerprint.txt, read by the
// Java and Python interop checks.
func fingerprintFile(fp uint64) string {
	var le [8]byte
	binary.LittleEndian.PutUint64(le[:], fp)
	return fmt.Sprintf(`# CRC-64-AVRO fingerprint of the Parsing Canonical Form of
# schemas/assetjoblog.avsc (testdata/canonical.json), as Java's
# SchemaNormalization.parsingFingerprint64 computes it.
# hex: the 64-bit value, most significant byte first (big-endian).
# le_bytes: the 8 bytes as written after C3 01 in single-object encoding
#   (little-endian).
# java_long: the value as a signed Java long.
hex=%016x
le_bytes=%x
java_long=%d
`, fp, le[:], int64(fp))
}

func TestGoldenFingerprint(t *testing.T) {
	checkGolden(t, filepath.Join("testdata", "fingerprint.txt"), []byte(fingerprintFile(avro.Fingerprint())))

	// The single-object header of every vector carries that fingerprint.
	b, err := os.ReadFile(filepath.Join("testdata", "typical.single.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := binary.LittleEndian.Uint64(b[2:10]), avro.Fingerprint(); got != want {
		t.Errorf("typical.single.bin fingerprint %016x, want %016x", got, want)
	}
	if got := strconv.FormatUint(avro.Fingerprint(), 16); len(got) < 8 {
		t.Errorf("fingerprint %s looks degenerate", got)
	}
}
