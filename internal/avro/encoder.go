package avro

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/linkedin/goavro/v2"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/schemas"
)

// Content types of the two framings, for a record's content-type header.
const (
	// ContentTypeSingleObject names Avro single-object encoding
	// (C3 01, 8-byte little-endian schema fingerprint, Avro binary).
	ContentTypeSingleObject = "application/vnd.apache.avro+binary; framing=single-object"
	// ContentTypeConfluent names the Confluent Schema Registry wire format
	// (00, 4-byte big-endian schema id, Avro binary).
	ContentTypeConfluent = "application/vnd.apache.avro+binary; framing=confluent"
)

// RecordFullName is the full name of the Avro record the package writes.
const RecordFullName = "com.scene7.ipsapi.AssetJobLog"

// Lengths of the framing headers.
const (
	singleObjectHeaderLen = 10
	confluentHeaderLen    = 5
)

// Union member names as goavro spells them in native form.
const (
	unionTimestamp = "long.timestamp-millis"
	unionString    = "string"
)

// ErrNilEntry is returned by Encode when given a nil entry.
var ErrNilEntry = errors.New("avro: nil entry")

// InvalidUTF8Error is returned by Encode when a string field of the entry is
// not valid UTF-8, which Avro strings must be.
type InvalidUTF8Error struct {
	// Field is the Avro field name, e.g. "logMessage" or
	// "auxArray[1].assetName".
	Field string
}

func (e *InvalidUTF8Error) Error() string {
	return fmt.Sprintf("avro: field %s is not valid UTF-8", e.Field)
}

var schemaCodec = sync.OnceValues(func() (*goavro.Codec, error) {
	return goavro.NewCodec(schemas.AssetJobLog)
})

func codec() *goavro.Codec {
	c, err := schemaCodec()
	if err != nil {
		// The schema is embedded at build time; the tests compile it.
		panic("avro: embedded AssetJobLog schema: " + err.Error())
	}
	return c
}

// Encoder encodes entries as framed Avro records. It implements
// pipeline.Encoder; its methods are safe for concurrent use.
type Encoder struct {
	header      []byte
	contentType string
	schemaID    int
	subject     string
}

var _ pipeline.Encoder = (*Encoder)(nil)

// NewSingleObjectEncoder returns an Encoder that writes Avro single-object
// encoding: C3 01, the schema's Fingerprint as 8 little-endian bytes, then
// the Avro binary body. It needs no network and fails only if the embedded
// schema does not compile.
func NewSingleObjectEncoder() (*Encoder, error) {
	if _, err := schemaCodec(); err != nil {
		return nil, fmt.Errorf("avro: compile AssetJobLog schema: %w", err)
	}
	h := make([]byte, singleObjectHeaderLen)
	h[0], h[1] = 0xC3, 0x01
	binary.LittleEndian.PutUint64(h[2:], Fingerprint())
	return &Encoder{header: h, contentType: ContentTypeSingleObject}, nil
}

func newConfluentEncoder(id int, subject string) (*Encoder, error) {
	if _, err := schemaCodec(); err != nil {
		return nil, fmt.Errorf("avro: compile AssetJobLog schema: %w", err)
	}
	if id < 0 || int64(id) > int64(^uint32(0)>>1) {
		return nil, fmt.Errorf("avro: schema id %d out of range", id)
	}
	h := make([]byte, confluentHeaderLen)
	binary.BigEndian.PutUint32(h[1:], uint32(id))
	return &Encoder{header: h, contentType: ContentTypeConfluent, schemaID: id, subject: subject}, nil
}

// ContentType returns ContentTypeSingleObject or ContentTypeConfluent.
func (e *Encoder) ContentType() string { return e.contentType }

// SchemaID returns the Schema Registry id written into every record, or 0
// for single-object encoding.
func (e *Encoder) SchemaID() int { return e.schemaID }

// Subject returns the Schema Registry subject the schema is registered
// under, or "" for single-object encoding.
func (e *Encoder) Subject() string { return e.subject }

// Encode appends the framed Avro encoding of l to dst and returns the
// extended slice. A nil or empty AuxArray is written as an empty array; nil
// optional aux fields as null. Times are written as milliseconds since the
// Unix epoch (sub-millisecond precision is dropped, rounding down). On error
// dst is returned unchanged in length.
func (e *Encoder) Encode(dst []byte, l *pipeline.AssetJobLog) ([]byte, error) {
	if l == nil {
		return dst, ErrNilEntry
	}
	if err := checkUTF8(l); err != nil {
		return dst, err
	}
	st := nativePool.Get().(*nativeState)
	rec := st.fill(l)
	start := len(dst)
	out, err := codec().BinaryFromNative(append(dst, e.header...), rec)
	nativePool.Put(st)
	if err != nil {
		return dst[:start], fmt.Errorf("avro: encode entry %q of asset %q: %w", l.EventID, l.AssetHandle, err)
	}
	return out, nil
}

func checkUTF8(l *pipeline.AssetJobLog) error {
	top := [...]struct{ name, v string }{
		{"eventId", l.EventID}, {"companyHandle", l.CompanyHandle}, {"assetHandle", l.AssetHandle},
		{"jobHandle", l.JobHandle}, {"jobName", l.JobName}, {"logMessage", l.LogMessage},
		{"logType", l.LogType}, {"submitUserEmail", l.SubmitUserEmail},
	}
	for _, f := range top {
		if !utf8.ValidString(f.v) {
			return &InvalidUTF8Error{Field: f.name}
		}
	}
	for i := range l.AuxArray {
		d := &l.AuxArray[i]
		aux := [...]struct {
			name string
			v    *string
		}{
			{"logMessage", &d.LogMessage}, {"logType", &d.LogType},
			{"assetName", d.AssetName}, {"assetType", d.AssetType}, {"assetHandle", d.AssetHandle},
		}
		for _, f := range aux {
			if f.v != nil && !utf8.ValidString(*f.v) {
				return &InvalidUTF8Error{Field: fmt.Sprintf("auxArray[%d].%s", i, f.name)}
			}
		}
	}
	return nil
}

// nativeState is the reusable goavro native form of one entry: the record
// map, the aux array and, per aux row, the row map and its union wrappers.
// Only the boxed leaf values are allocated per Encode. A pooled state keeps
// the values of the last entry it encoded until it is reused or the pool
// drops it at a garbage collection; clearing them would cost more than it
// saves.
type nativeState struct {
	rec  map[string]any
	aux  []any
	rows []*nativeRow
}

type nativeRow struct {
	m           map[string]any
	dateCreated map[string]any
	assetName   map[string]any
	assetType   map[string]any
	assetHandle map[string]any
}

var nativePool = sync.Pool{New: func() any {
	return &nativeState{rec: make(map[string]any, 11)}
}}

func (st *nativeState) fill(l *pipeline.AssetJobLog) map[string]any {
	r := st.rec
	r["eventId"] = l.EventID
	r["companyHandle"] = l.CompanyHandle
	r["assetHandle"] = l.AssetHandle
	r["jobHandle"] = l.JobHandle
	r["jobName"] = l.JobName
	r["logMessage"] = l.LogMessage
	r["logType"] = l.LogType
	r["submitUserEmail"] = l.SubmitUserEmail
	r["logDate"] = l.LogDate.UnixMilli()
	r["observedAt"] = l.ObservedAt.UnixMilli()

	for len(st.rows) < len(l.AuxArray) {
		st.rows = append(st.rows, &nativeRow{
			m:           make(map[string]any, 6),
			dateCreated: make(map[string]any, 1),
			assetName:   make(map[string]any, 1),
			assetType:   make(map[string]any, 1),
			assetHandle: make(map[string]any, 1),
		})
	}
	st.aux = st.aux[:0]
	for i := range l.AuxArray {
		d, row := &l.AuxArray[i], st.rows[i]
		row.m["logMessage"] = d.LogMessage
		row.m["logType"] = d.LogType
		if d.DateCreated != nil {
			row.dateCreated[unionTimestamp] = d.DateCreated.UnixMilli()
			row.m["dateCreated"] = row.dateCreated
		} else {
			row.m["dateCreated"] = nil
		}
		row.m["assetName"] = optionalString(row.assetName, d.AssetName)
		row.m["assetType"] = optionalString(row.assetType, d.AssetType)
		row.m["assetHandle"] = optionalString(row.assetHandle, d.AssetHandle)
		st.aux = append(st.aux, row.m)
	}
	r["auxArray"] = st.aux
	return r
}

func optionalString(wrapper map[string]any, s *string) any {
	if s == nil {
		return nil
	}
	wrapper[unionString] = *s
	return wrapper
}
