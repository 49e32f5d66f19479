package avro_test

import (
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/avro"
)

// BenchmarkEncode encodes one typical entry (two aux rows) into a reused
// buffer, as a producer does per record.
func BenchmarkEncode(b *testing.B) {
	enc := newSingle(b)
	e := typicalEntry()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		out, err := enc.Encode(buf[:0], e)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

// BenchmarkEncodeParallel is BenchmarkEncode from all Ps at once, which
// exercises the pooled native form.
func BenchmarkEncodeParallel(b *testing.B) {
	enc := newSingle(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := typicalEntry()
		buf := make([]byte, 0, 1024)
		for pb.Next() {
			if _, err := enc.Encode(buf[:0], e); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	value, err := newSingle(b).Encode(nil, typicalEntry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := avro.Decode(value); err != nil {
			b.Fatal(err)
		}
	}
}
