package avro_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

func ptr[T any](v T) *T { return &v }

// typicalEntry is an entry as the IPS client returns it, with two aux rows
// of the two shapes IPS documents.
func typicalEntry() *pipeline.AssetJobLog {
	logDate := time.Date(2007, 10, 24, 23, 12, 32, 297e6, time.UTC)
	return &pipeline.AssetJobLog{
		EventID:         "5f0c2d6e9a4b3c1d7e8f9a0b1c2d3e4f",
		CompanyHandle:   "c|6",
		AssetHandle:     "a|732|1|535",
		JobHandle:       "j|6||Add_2007-10-24-16:11:07",
		JobName:         "Add_2007-10-24-16:11:07",
		LogMessage:      "ApiTestCo/blakexslttest.jpg was processed into IPS",
		LogType:         "UploadSuccess",
		SubmitUserEmail: "someone@example.com",
		LogDate:         logDate,
		AuxArray: []pipeline.JobLogDetail{
			{LogMessage: "Image has no embedded color profile", LogType: "IPSJobLog.gcUploadWarning", DateCreated: ptr(logDate.Add(3 * time.Millisecond))},
			{LogMessage: "blakexslttest.jpg", LogType: "UploadSuccess", AssetName: ptr("blakexslttest"), AssetType: ptr("Image"), AssetHandle: ptr("a|732|1|535")},
		},
		ObservedAt: time.Date(2026, 3, 14, 9, 26, 53, 589e6, time.UTC),
	}
}

func newSingle(t testing.TB) *avro.Encoder {
	t.Helper()
	enc, err := avro.NewSingleObjectEncoder()
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestSingleObjectEncoderWritesHeaderAndContentType(t *testing.T) {
	enc := newSingle(t)
	if got, want := enc.ContentType(), avro.ContentTypeSingleObject; got != want {
		t.Errorf("ContentType() = %q, want %q", got, want)
	}
	if enc.SchemaID() != 0 || enc.Subject() != "" {
		t.Errorf("SchemaID, Subject = %d, %q, want 0, empty", enc.SchemaID(), enc.Subject())
	}
	b, err := enc.Encode(nil, typicalEntry())
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0xC3 || b[1] != 0x01 {
		t.Errorf("marker % x, want c3 01", b[:2])
	}
	if got, want := binary.LittleEndian.Uint64(b[2:10]), avro.Fingerprint(); got != want {
		t.Errorf("fingerprint %016x, want %016x", got, want)
	}
	f, err := avro.ParseFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Framing != avro.FramingSingleObject || f.Fingerprint != avro.Fingerprint() || len(f.Body) != len(b)-10 {
		t.Errorf("ParseFrame = %+v", f)
	}
}

func TestEncodeAppendsToDst(t *testing.T) {
	enc := newSingle(t)
	alone, err := enc.Encode(nil, typicalEntry())
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	got, err := enc.Encode(append([]byte(nil), prefix...), typicalEntry())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(prefix, alone...)) {
		t.Errorf("Encode(prefix) = %x, want prefix followed by %x", got, alone)
	}
}

func TestEncodeNilAndEmptyAuxArrayAreTheSame(t *testing.T) {
	enc := newSingle(t)
	e := typicalEntry()
	e.AuxArray = nil
	withNil, err := enc.Encode(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	e.AuxArray = []pipeline.JobLogDetail{}
	withEmpty, err := enc.Encode(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(withNil, withEmpty) {
		t.Errorf("nil aux %x, empty aux %x, want equal", withNil, withEmpty)
	}
	back, err := avro.Decode(withEmpty)
	if err != nil {
		t.Fatal(err)
	}
	if back.AuxArray != nil {
		t.Errorf("decoded AuxArray = %#v, want nil", back.AuxArray)
	}
}

func TestEncodeTruncatesTimesToMillisecondsRoundingDown(t *testing.T) {
	enc := newSingle(t)
	e := typicalEntry()
	e.LogDate = time.Date(2020, 1, 2, 3, 4, 5, 6_999_999, time.FixedZone("PDT", -7*3600))
	e.ObservedAt = time.UnixMilli(0).Add(-500 * time.Microsecond) // 1969-12-31T23:59:59.9995Z
	b, err := enc.Encode(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := avro.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := back.LogDate, time.Date(2020, 1, 2, 10, 4, 5, 6e6, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("LogDate = %v, want %v in UTC", got, want)
	}
	if got, want := back.ObservedAt.UnixMilli(), int64(-1); got != want {
		t.Errorf("ObservedAt = %d ms, want %d", got, want)
	}
}

func TestEncodeRejectsNilEntry(t *testing.T) {
	dst := []byte{1, 2}
	got, err := newSingle(t).Encode(dst, nil)
	if !errors.Is(err, avro.ErrNilEntry) {
		t.Errorf("err = %v, want ErrNilEntry", err)
	}
	if len(got) != 2 {
		t.Errorf("dst grew to %d bytes on error", len(got))
	}
}

func TestEncodeRejectsInvalidUTF8NamingTheField(t *testing.T) {
	for _, tc := range []struct {
		field  string
		mangle func(*pipeline.AssetJobLog)
	}{
		{"logMessage", func(e *pipeline.AssetJobLog) { e.LogMessage = "bad \xff" }},
		{"submitUserEmail", func(e *pipeline.AssetJobLog) { e.SubmitUserEmail = "\xc3" }},
		{"auxArray[1].assetName", func(e *pipeline.AssetJobLog) { e.AuxArray[1].AssetName = ptr("\xfe") }},
		{"auxArray[0].logType", func(e *pipeline.AssetJobLog) { e.AuxArray[0].LogType = "\x80" }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			e := typicalEntry()
			tc.mangle(e)
			got, err := newSingle(t).Encode(nil, e)
			var u *avro.InvalidUTF8Error
			if !errors.As(err, &u) || u.Field != tc.field {
				t.Fatalf("err = %v, want InvalidUTF8Error for %s", err, tc.field)
			}
			if len(got) != 0 {
				t.Errorf("Encode returned %d bytes with the error", len(got))
			}
		})
	}
}

func TestEncodeIsSafeForConcurrentUse(t *testing.T) {
	enc := newSingle(t)
	want, err := enc.Encode(nil, typicalEntry())
	if err != nil {
		t.Fatal(err)
	}
	other := typicalEntry()
	other.AuxArray = other.AuxArray[:1]
	other.LogMessage = "another message"
	wantOther, err := enc.Encode(nil, other)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				e, w := typicalEntry(), want
				if (g+i)%2 == 1 {
					e, w = other, wantOther
				}
				got, err := enc.Encode(nil, e)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, w) {
					errs <- errors.New("concurrent Encode wrote different bytes")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	good, err := newSingle(t).Encode(nil, typicalEntry())
	if err != nil {
		t.Fatal(err)
	}
	otherFingerprint := bytes.Clone(good)
	otherFingerprint[5] ^= 0xff
	badUTF8 := bytes.Clone(good)
	badUTF8[bytes.Index(badUTF8, []byte("Add_2007"))] = 0xff
	for _, tc := range []struct {
		name string
		in   []byte
		is   error
	}{
		{"empty", nil, avro.ErrUnknownFraming},
		{"unknown magic", append([]byte{0x7b}, good[1:]...), avro.ErrUnknownFraming},
		{"short single-object header", good[:9], avro.ErrUnknownFraming},
		{"short confluent header", []byte{0, 0, 0}, avro.ErrUnknownFraming},
		{"other schema fingerprint", otherFingerprint, avro.ErrFingerprintMismatch},
		{"truncated body", good[:len(good)-3], nil},
		{"trailing bytes", append(bytes.Clone(good), 0), nil},
		{"invalid UTF-8", badUTF8, &avro.InvalidUTF8Error{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := avro.Decode(tc.in)
			if err == nil {
				t.Fatalf("Decode = %+v, want an error", got)
			}
			var u *avro.InvalidUTF8Error
			switch {
			case tc.is == nil:
			case errors.As(tc.is, &u):
				if !errors.As(err, &u) || u.Field != "jobHandle" {
					t.Errorf("err = %v, want InvalidUTF8Error for jobHandle", err)
				}
			case !errors.Is(err, tc.is):
				t.Errorf("err = %v, want %v", err, tc.is)
			}
		})
	}
}

func TestDecodeNativeUsesGoavroNativeForm(t *testing.T) {
	b, err := newSingle(t).Encode(nil, typicalEntry())
	if err != nil {
		t.Fatal(err)
	}
	m, err := avro.DecodeNative(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m["assetHandle"], any("a|732|1|535"); got != want {
		t.Errorf("assetHandle = %v, want %v", got, want)
	}
	aux := m["auxArray"].([]any)
	row1 := aux[1].(map[string]any)
	if got, want := row1["assetType"], any(map[string]any{"string": "Image"}); !reflect.DeepEqual(got, want) {
		t.Errorf("auxArray[1].assetType = %#v, want %#v", got, want)
	}
	if row1["dateCreated"] != nil {
		t.Errorf("auxArray[1].dateCreated = %#v, want nil", row1["dateCreated"])
	}
	if _, ok := m["logDate"].(time.Time); !ok {
		t.Errorf("logDate is %T, want time.Time", m["logDate"])
	}
}

func TestFramingString(t *testing.T) {
	for f, want := range map[avro.Framing]string{avro.FramingSingleObject: "single-object", avro.FramingConfluent: "confluent", 9: "Framing(9)"} {
		if got := f.String(); got != want {
			t.Errorf("Framing(%d).String() = %q, want %q", int(f), got, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	enc, err := avro.NewSingleObjectEncoder()
	if err != nil {
		f.Fatal(err)
	}
	b, err := enc.Encode(nil, typicalEntry())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(append([]byte{0, 0, 0, 0, 7}, b[10:]...))
	f.Add([]byte{0xC3, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := avro.Decode(in)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same body.
		out, err := enc.Encode(nil, l)
		if err != nil {
			t.Fatalf("re-encode of decoded %+v: %v", l, err)
		}
		frame, _ := avro.ParseFrame(in)
		if !bytes.Equal(out[10:], frame.Body) {
			t.Errorf("re-encoded body %x, want %x", out[10:], frame.Body)
		}
	})
}

func FuzzEncodeRoundTrip(f *testing.F) {
	f.Add("c|6", "a|732|1|535", "msg", "aux", int64(1193267552297), int64(-1), true)
	f.Add("", "", "", "", int64(0), int64(253402300799999), false)
	enc, err := avro.NewSingleObjectEncoder()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, company, asset, msg, aux string, logMs, auxMs int64, withAux bool) {
		e := &pipeline.AssetJobLog{
			CompanyHandle: company, AssetHandle: asset, LogMessage: msg,
			LogDate: time.UnixMilli(logMs).UTC(), ObservedAt: time.UnixMilli(auxMs).UTC(),
		}
		if withAux {
			e.AuxArray = []pipeline.JobLogDetail{{LogMessage: aux, DateCreated: ptr(time.UnixMilli(auxMs).UTC()), AssetName: ptr(aux)}}
		}
		b, err := enc.Encode(nil, e)
		var u *avro.InvalidUTF8Error
		if errors.As(err, &u) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		back, err := avro.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Errorf("round trip\n got %+v\nwant %+v", back, e)
		}
	})
}
