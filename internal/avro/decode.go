package avro

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// Framing names how an Avro record is framed in a Kafka record value.
type Framing int

// Framings Decode recognises.
const (
	// FramingSingleObject is Avro single-object encoding: C3 01, an 8-byte
	// little-endian schema fingerprint, the Avro binary body.
	FramingSingleObject Framing = iota + 1
	// FramingConfluent is the Confluent wire format: 00, a 4-byte big-endian
	// Schema Registry id, the Avro binary body.
	FramingConfluent
)

// String returns "single-object" or "confluent".
func (f Framing) String() string {
	switch f {
	case FramingSingleObject:
		return "single-object"
	case FramingConfluent:
		return "confluent"
	default:
		return fmt.Sprintf("Framing(%d)", int(f))
	}
}

// Errors returned by ParseFrame and the decoding functions.
var (
	// ErrUnknownFraming is returned for bytes that start with neither C3 01
	// nor 00, or are shorter than the framing's header.
	ErrUnknownFraming = errors.New("avro: not a single-object or Confluent framed Avro record")
	// ErrFingerprintMismatch is returned for a single-object record whose
	// schema fingerprint is not Fingerprint(): it was written with another
	// schema, which this package cannot read.
	ErrFingerprintMismatch = errors.New("avro: single-object record written with another schema")
)

// Frame is a framed Avro record split into its header and body.
type Frame struct {
	Framing Framing
	// Fingerprint is the schema fingerprint of a single-object record.
	Fingerprint uint64
	// SchemaID is the Schema Registry id of a Confluent-framed record.
	SchemaID int
	// Body is the Avro binary encoding of the record (a sub-slice of the
	// input).
	Body []byte
}

// ParseFrame splits b into its framing header and Avro body. It does not
// check the fingerprint or the schema id against anything.
func ParseFrame(b []byte) (Frame, error) {
	switch {
	case len(b) >= singleObjectHeaderLen && b[0] == 0xC3 && b[1] == 0x01:
		return Frame{
			Framing:     FramingSingleObject,
			Fingerprint: binary.LittleEndian.Uint64(b[2:10]),
			Body:        b[singleObjectHeaderLen:],
		}, nil
	case len(b) >= confluentHeaderLen && b[0] == 0x00:
		return Frame{
			Framing:  FramingConfluent,
			SchemaID: int(binary.BigEndian.Uint32(b[1:5])),
			Body:     b[confluentHeaderLen:],
		}, nil
	default:
		return Frame{}, ErrUnknownFraming
	}
}

// DecodeNative decodes a framed record (either framing) into goavro's native
// form: a map keyed by Avro field name, timestamps as time.Time in UTC,
// non-null union values as single-entry maps keyed by the member type
// ("string", "long.timestamp-millis").
//
// A single-object record must carry Fingerprint(). A Confluent-framed
// record's schema id is not looked up: the writer schema is assumed to be
// this package's.
func DecodeNative(b []byte) (map[string]any, error) {
	f, err := ParseFrame(b)
	if err != nil {
		return nil, err
	}
	if f.Framing == FramingSingleObject && f.Fingerprint != Fingerprint() {
		return nil, fmt.Errorf("%w: fingerprint %016x, want %016x", ErrFingerprintMismatch, f.Fingerprint, Fingerprint())
	}
	native, rest, err := codec().NativeFromBinary(f.Body)
	if err != nil {
		return nil, fmt.Errorf("avro: decode %s record: %w", f.Framing, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("avro: decode %s record: %d trailing bytes", f.Framing, len(rest))
	}
	m, ok := native.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("avro: decode %s record: got %T, want a record", f.Framing, native)
	}
	return m, nil
}

// Decode decodes a framed record (either framing, see DecodeNative) into an
// entry. An empty auxArray decodes as a nil AuxArray. Strings that are not
// valid UTF-8 are refused with an *InvalidUTF8Error, as Encode refuses them.
func Decode(b []byte) (*pipeline.AssetJobLog, error) {
	m, err := DecodeNative(b)
	if err != nil {
		return nil, err
	}
	l, err := fromNative(m)
	if err != nil {
		return nil, fmt.Errorf("avro: decode record: %w", err)
	}
	if err := checkUTF8(l); err != nil {
		return nil, fmt.Errorf("avro: decode record: %w", err)
	}
	return l, nil
}

func fromNative(m map[string]any) (*pipeline.AssetJobLog, error) {
	var d nativeReader
	l := &pipeline.AssetJobLog{
		EventID:         d.str(m, "eventId"),
		CompanyHandle:   d.str(m, "companyHandle"),
		AssetHandle:     d.str(m, "assetHandle"),
		JobHandle:       d.str(m, "jobHandle"),
		JobName:         d.str(m, "jobName"),
		LogMessage:      d.str(m, "logMessage"),
		LogType:         d.str(m, "logType"),
		SubmitUserEmail: d.str(m, "submitUserEmail"),
		LogDate:         d.time(m, "logDate"),
		ObservedAt:      d.time(m, "observedAt"),
	}
	aux, ok := m["auxArray"].([]any)
	if !ok && d.err == nil {
		d.err = fmt.Errorf("field auxArray: got %T", m["auxArray"])
	}
	for _, a := range aux {
		row, ok := a.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("field auxArray: item %T", a)
		}
		l.AuxArray = append(l.AuxArray, pipeline.JobLogDetail{
			LogMessage:  d.str(row, "logMessage"),
			LogType:     d.str(row, "logType"),
			DateCreated: d.optTime(row, "dateCreated"),
			AssetName:   d.optStr(row, "assetName"),
			AssetType:   d.optStr(row, "assetType"),
			AssetHandle: d.optStr(row, "assetHandle"),
		})
	}
	if d.err != nil {
		return nil, d.err
	}
	return l, nil
}

// nativeReader reads fields of goavro's native form, keeping the first
// type error.
type nativeReader struct{ err error }

func (d *nativeReader) fail(field string, v any) {
	if d.err == nil {
		d.err = fmt.Errorf("field %s: unexpected native value %T", field, v)
	}
}

func (d *nativeReader) str(m map[string]any, field string) string {
	s, ok := m[field].(string)
	if !ok {
		d.fail(field, m[field])
	}
	return s
}

func (d *nativeReader) time(m map[string]any, field string) time.Time {
	t, ok := m[field].(time.Time)
	if !ok {
		d.fail(field, m[field])
	}
	return t
}

func (d *nativeReader) union(m map[string]any, field, member string) (any, bool) {
	v := m[field]
	if v == nil {
		return nil, false
	}
	u, ok := v.(map[string]any)
	if !ok {
		d.fail(field, v)
		return nil, false
	}
	inner, ok := u[member]
	if !ok {
		d.fail(field, v)
		return nil, false
	}
	return inner, true
}

func (d *nativeReader) optTime(m map[string]any, field string) *time.Time {
	v, ok := d.union(m, field, unionTimestamp)
	if !ok {
		return nil
	}
	t, ok := v.(time.Time)
	if !ok {
		d.fail(field, v)
		return nil
	}
	return &t
}

func (d *nativeReader) optStr(m map[string]any, field string) *string {
	v, ok := d.union(m, field, unionString)
	if !ok {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		d.fail(field, v)
		return nil
	}
	return &s
}

// TimeLayout is the layout ToJSON writes timestamps in: RFC 3339 in UTC
// with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

type jsonEntry struct {
	EventID         string    `json:"eventId"`
	CompanyHandle   string    `json:"companyHandle"`
	AssetHandle     string    `json:"assetHandle"`
	JobHandle       string    `json:"jobHandle"`
	JobName         string    `json:"jobName"`
	LogMessage      string    `json:"logMessage"`
	LogType         string    `json:"logType"`
	SubmitUserEmail string    `json:"submitUserEmail"`
	LogDate         string    `json:"logDate"`
	AuxArray        []jsonAux `json:"auxArray"`
	ObservedAt      string    `json:"observedAt"`
}

type jsonAux struct {
	LogMessage  string  `json:"logMessage"`
	LogType     string  `json:"logType"`
	DateCreated *string `json:"dateCreated"`
	AssetName   *string `json:"assetName"`
	AssetType   *string `json:"assetType"`
	AssetHandle *string `json:"assetHandle"`
}

// ToJSON decodes a framed record (see DecodeNative) and returns it as one
// line of JSON with the Avro field names in schema order: timestamps as
// strings in TimeLayout, null union values as null, others unwrapped, and
// auxArray always an array. It is meant for people reading records, not as
// Avro's JSON encoding.
func ToJSON(b []byte) ([]byte, error) {
	l, err := Decode(b)
	if err != nil {
		return nil, err
	}
	return EntryJSON(l)
}

// EntryJSON returns l in the JSON form ToJSON writes.
func EntryJSON(l *pipeline.AssetJobLog) ([]byte, error) {
	j := jsonEntry{
		EventID:         l.EventID,
		CompanyHandle:   l.CompanyHandle,
		AssetHandle:     l.AssetHandle,
		JobHandle:       l.JobHandle,
		JobName:         l.JobName,
		LogMessage:      l.LogMessage,
		LogType:         l.LogType,
		SubmitUserEmail: l.SubmitUserEmail,
		LogDate:         formatTime(l.LogDate),
		AuxArray:        make([]jsonAux, 0, len(l.AuxArray)),
		ObservedAt:      formatTime(l.ObservedAt),
	}
	for _, d := range l.AuxArray {
		a := jsonAux{
			LogMessage:  d.LogMessage,
			LogType:     d.LogType,
			AssetName:   d.AssetName,
			AssetType:   d.AssetType,
			AssetHandle: d.AssetHandle,
		}
		if d.DateCreated != nil {
			s := formatTime(*d.DateCreated)
			a.DateCreated = &s
		}
		j.AuxArray = append(j.AuxArray, a)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return nil, fmt.Errorf("avro: entry as JSON: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func formatTime(t time.Time) string {
	return t.UTC().Format(TimeLayout)
}
