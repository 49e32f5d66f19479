package avro

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/assetjoblog/assetjoblog/schemas"
)

// crc64Empty is the CRC-64-AVRO fingerprint of the empty input, and the
// polynomial of the Rabin fingerprint the Avro specification defines.
const crc64Empty uint64 = 0xc15d213aa4d7a795

var crc64Table = func() (t [256]uint64) {
	for i := range t {
		fp := uint64(i)
		for range 8 {
			fp = (fp >> 1) ^ (crc64Empty & -(fp & 1))
		}
		t[i] = fp
	}
	return t
}()

// Fingerprint64 returns the CRC-64-AVRO (Rabin) fingerprint of b, as defined
// by the Avro specification and computed by Java's
// SchemaNormalization.fingerprint64.
func Fingerprint64(b []byte) uint64 {
	fp := crc64Empty
	for _, c := range b {
		fp = (fp >> 8) ^ crc64Table[byte(fp)^c]
	}
	return fp
}

// ParsingCanonicalForm returns the Parsing Canonical Form of an Avro schema
// given as JSON, the way Apache Avro's Java library computes it
// (SchemaNormalization.toParsingForm): primitive types in their simple form,
// full names for named types, only the attributes name, type, fields,
// symbols, items, values and size (in that order; doc, default, aliases,
// order, namespace and logicalType are dropped), a named type written out
// only at its first occurrence, no whitespace.
func ParsingCanonicalForm(schema string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(schema))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("parsing canonical form: parse schema: %w", err)
	}
	var b bytes.Buffer
	if err := writePCF(&b, v, "", map[string]bool{}); err != nil {
		return "", fmt.Errorf("parsing canonical form: %w", err)
	}
	return b.String(), nil
}

var primitiveTypes = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true,
}

func writePCF(b *bytes.Buffer, v any, ns string, seen map[string]bool) error {
	switch t := v.(type) {
	case string:
		if primitiveTypes[t] {
			writeJSONString(b, t)
		} else {
			writeJSONString(b, fullName(t, ns))
		}
		return nil
	case []any:
		b.WriteByte('[')
		for i, m := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writePCF(b, m, ns, seen); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case map[string]any:
		return writePCFObject(b, t, ns, seen)
	default:
		return fmt.Errorf("unexpected schema value %v (%T)", v, v)
	}
}

func writePCFObject(b *bytes.Buffer, o map[string]any, ns string, seen map[string]bool) error {
	typ, ok := o["type"].(string)
	if !ok {
		return fmt.Errorf("schema object without a string type: %v", o["type"])
	}
	switch typ {
	case "record", "error", "enum", "fixed":
		name, _ := o["name"].(string)
		if name == "" {
			return fmt.Errorf("%s without a name", typ)
		}
		if s, ok := o["namespace"].(string); ok {
			ns = s
		}
		full := fullName(name, ns)
		if seen[full] {
			writeJSONString(b, full)
			return nil
		}
		seen[full] = true
		ns = namespaceOf(full)
		b.WriteString(`{"name":`)
		writeJSONString(b, full)
		b.WriteString(`,"type":`)
		writeJSONString(b, typ)
		switch typ {
		case "record", "error":
			fields, _ := o["fields"].([]any)
			b.WriteString(`,"fields":[`)
			for i, f := range fields {
				fo, ok := f.(map[string]any)
				if !ok {
					return fmt.Errorf("record %s: field %d is not an object", full, i)
				}
				fname, _ := fo["name"].(string)
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"name":`)
				writeJSONString(b, fname)
				b.WriteString(`,"type":`)
				if err := writePCF(b, fo["type"], ns, seen); err != nil {
					return fmt.Errorf("record %s field %s: %w", full, fname, err)
				}
				b.WriteByte('}')
			}
			b.WriteByte(']')
		case "enum":
			symbols, _ := o["symbols"].([]any)
			b.WriteString(`,"symbols":[`)
			for i, s := range symbols {
				if i > 0 {
					b.WriteByte(',')
				}
				str, _ := s.(string)
				writeJSONString(b, str)
			}
			b.WriteByte(']')
		case "fixed":
			size, ok := o["size"].(json.Number)
			if !ok {
				return fmt.Errorf("fixed %s without a numeric size", full)
			}
			n, err := size.Int64()
			if err != nil {
				return fmt.Errorf("fixed %s size %s: %w", full, size, err)
			}
			fmt.Fprintf(b, `,"size":%d`, n)
		}
		b.WriteByte('}')
		return nil
	case "array":
		b.WriteString(`{"type":"array","items":`)
		if err := writePCF(b, o["items"], ns, seen); err != nil {
			return err
		}
		b.WriteByte('}')
		return nil
	case "map":
		b.WriteString(`{"type":"map","values":`)
		if err := writePCF(b, o["values"], ns, seen); err != nil {
			return err
		}
		b.WriteByte('}')
		return nil
	default:
		// A primitive with attributes ({"type":"long","logicalType":...})
		// or a reference to a named type.
		return writePCF(b, typ, ns, seen)
	}
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func namespaceOf(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[:i]
	}
	return ""
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode appends a newline
}

var schemaPCF = sync.OnceValues(func() (string, error) {
	return ParsingCanonicalForm(schemas.AssetJobLog)
})

// CanonicalForm returns the Parsing Canonical Form of the AssetJobLog schema
// (see ParsingCanonicalForm), the text its fingerprint is computed over.
func CanonicalForm() string {
	pcf, err := schemaPCF()
	if err != nil {
		// The schema is embedded at build time; the tests parse it.
		panic("avro: embedded AssetJobLog schema: " + err.Error())
	}
	return pcf
}

// Fingerprint returns the CRC-64-AVRO fingerprint of the AssetJobLog
// schema's Parsing Canonical Form: the value Java's
// SchemaNormalization.parsingFingerprint64 returns, and the one written
// (little-endian) after C3 01 in every single-object encoded record.
func Fingerprint() uint64 { return schemaFingerprint() }

var schemaFingerprint = sync.OnceValue(func() uint64 {
	return Fingerprint64([]byte(CanonicalForm()))
})
