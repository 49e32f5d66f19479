package avro_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

func ExampleNewSingleObjectEncoder() {
	enc, err := avro.NewSingleObjectEncoder()
	if err != nil {
		panic(err)
	}
	entry := &pipeline.AssetJobLog{
		EventID:       "5f0c2d6e9a4b3c1d7e8f9a0b1c2d3e4f",
		CompanyHandle: "c|6",
		AssetHandle:   "a|732|1|535",
		JobHandle:     "j|6||Add_2007-10-24-16:11:07",
		LogType:       "UploadSuccess",
		LogDate:       time.Date(2007, 10, 24, 23, 12, 32, 297e6, time.UTC),
		ObservedAt:    time.Date(2026, 3, 14, 9, 26, 53, 589e6, time.UTC),
	}
	value, err := enc.Encode(nil, entry)
	if err != nil {
		panic(err)
	}
	fmt.Println(enc.ContentType())
	fmt.Printf("header % x\n", value[:10])

	back, err := avro.Decode(value)
	if err != nil {
		panic(err)
	}
	fmt.Println(back.AssetHandle, back.LogType, back.LogDate.Format(time.RFC3339Nano))

	line, err := avro.ToJSON(value)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(line))
	// Output:
	// application/vnd.apache.avro+binary; framing=single-object
	// header c3 01 8b 2d da 16 d9 f2 d8 08
	// a|732|1|535 UploadSuccess 2007-10-24T23:12:32.297Z
	// {"eventId":"5f0c2d6e9a4b3c1d7e8f9a0b1c2d3e4f","companyHandle":"c|6","assetHandle":"a|732|1|535","jobHandle":"j|6||Add_2007-10-24-16:11:07","jobName":"","logMessage":"","logType":"UploadSuccess","submitUserEmail":"","logDate":"2007-10-24T23:12:32.297Z","auxArray":[],"observedAt":"2026-03-14T09:26:53.589Z"}
}

func ExampleNewConfluentEncoder() {
	registry := srfake.New() // an in-memory Schema Registry
	defer registry.Close()

	enc, err := avro.NewConfluentEncoder(context.Background(), avro.RegistryConfig{
		URL:   registry.URL(),
		Topic: "scene7.assetjoblog",
	})
	if err != nil {
		panic(err)
	}
	value, err := enc.Encode(nil, &pipeline.AssetJobLog{AssetHandle: "a|732|1|535"})
	if err != nil {
		panic(err)
	}
	fmt.Println(enc.Subject(), enc.SchemaID())
	fmt.Printf("header % x\n", value[:5])
	// Output:
	// scene7.assetjoblog-value 1
	// header 00 00 00 00 01
}

func ExampleFingerprint() {
	fmt.Printf("%016x\n", avro.Fingerprint())
	// Output: 08d8f2d916da2d8b
}
