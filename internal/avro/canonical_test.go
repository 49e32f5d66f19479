package avro_test

import (
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/schemas"
)

// Vectors of the Avro specification's schema test data (share/test/data/
// schema-tests.txt), whose fingerprints Java's implementation cross-checks.
// Fingerprints are Java longs.
var pcfVectors = []struct {
	input, canonical string
	fingerprint      int64
}{
	{`"null"`, `"null"`, 7195948357588979594},
	{`{"type":"null"}`, `"null"`, 7195948357588979594},
	{`"long"`, `"long"`, -3434872931120570953},
	{`{"type":"long"}`, `"long"`, -3434872931120570953},
	{`"string"`, `"string"`, -8142146995180207161},
	{`[  ]`, `[]`, -1241056759729112623},
	{`[ "int" , {"type":"boolean"} ]`, `["int","boolean"]`, 5392556393470105090},
	{`{"fields":[], "type":"record", "name":"foo"}`, `{"name":"foo","type":"record","fields":[]}`, -4824392279771201922},
	{`{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}`, `{"name":"x.y.foo","type":"record","fields":[]}`, 5916914534497305771},
	{`{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}`, `{"name":"a.b.foo","type":"record","fields":[]}`, -4616218487480524110},
	{`{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}`, `{"name":"foo","type":"record","fields":[]}`, -4824392279771201922},
	{`{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},
	            {"order":"descending","name":"f2","doc":"Hello","type":"int"}],
	  "type":"record", "name":"foo"}`,
		`{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}`, -4860222112080293046},
	{`{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}`, `{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}`, -4448647247586288245},
	{`{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}`, `{"name":"x.y.z.foo","type":"fixed","size":32}`, -3064184465700546786},
	{`{ "items":{"type":"null"}, "type":"array"}`, `{"type":"array","items":"null"}`, -589620603366471059},
	{`{ "values":"string", "type":"map"}`, `{"type":"map","values":"string"}`, -8732877298790414990},
	{`{"name":"PigValue","type":"record",
	   "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}`,
		`{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}`, -1759257747318642341},
}

func TestParsingCanonicalFormMatchesSpecVectors(t *testing.T) {
	for _, v := range pcfVectors {
		got, err := avro.ParsingCanonicalForm(v.input)
		if err != nil {
			t.Errorf("ParsingCanonicalForm(%s): %v", v.input, err)
			continue
		}
		if got != v.canonical {
			t.Errorf("ParsingCanonicalForm(%s)\n got %s\nwant %s", v.input, got, v.canonical)
		}
		if fp := avro.Fingerprint64([]byte(got)); int64(fp) != v.fingerprint {
			t.Errorf("Fingerprint64(%s) = %d, want %d", got, int64(fp), v.fingerprint)
		}
	}
}

func TestParsingCanonicalFormDropsLogicalTypesAndResolvesNamespaces(t *testing.T) {
	in := `{"type":"record","name":"R","namespace":"a.b","fields":[
		{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"u","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null},
		{"name":"n","type":{"type":"record","name":"N","fields":[{"name":"x","type":"string"}]}},
		{"name":"again","type":"N"},
		{"name":"other","type":{"type":"enum","name":"c.E","symbols":["X"]}},
		{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}}]}`
	want := `{"name":"a.b.R","type":"record","fields":[` +
		`{"name":"t","type":"long"},` +
		`{"name":"u","type":["null","long"]},` +
		`{"name":"n","type":{"name":"a.b.N","type":"record","fields":[{"name":"x","type":"string"}]}},` +
		`{"name":"again","type":"a.b.N"},` +
		`{"name":"other","type":{"name":"c.E","type":"enum","symbols":["X"]}},` +
		`{"name":"d","type":"bytes"}]}`
	got, err := avro.ParsingCanonicalForm(in)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestParsingCanonicalFormRejectsInvalidSchemas(t *testing.T) {
	for _, in := range []string{``, `{`, `{"type":"record"}`, `{"type":"fixed","name":"f"}`, `{"name":"x"}`, `3`} {
		if got, err := avro.ParsingCanonicalForm(in); err == nil {
			t.Errorf("ParsingCanonicalForm(%q) = %q, want an error", in, got)
		}
	}
}

func TestFingerprint64OfEmptyInputIsTheAvroConstant(t *testing.T) {
	if got, want := avro.Fingerprint64(nil), uint64(0xc15d213aa4d7a795); got != want {
		t.Errorf("Fingerprint64(nil) = %#x, want %#x", got, want)
	}
}

func TestFingerprintIsOverTheCanonicalForm(t *testing.T) {
	if got, want := avro.Fingerprint(), avro.Fingerprint64([]byte(avro.CanonicalForm())); got != want {
		t.Errorf("Fingerprint() = %016x, want %016x", got, want)
	}
}

// goavro's own canonical form keeps logicalType, so its fingerprint is not
// the one Java readers look up; the package must not use it.
func TestFingerprintDiffersFromGoavroRabin(t *testing.T) {
	c, err := goavro.NewCodec(schemas.AssetJobLog)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(c.Rabin) == avro.Fingerprint() {
		t.Errorf("goavro Rabin %016x equals Fingerprint(): goavro now strips logicalType too; revisit the package doc", uint64(c.Rabin))
	}
}
