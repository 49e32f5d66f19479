// Package avro encodes assetjoblog entries (pipeline.AssetJobLog) as Avro
// records of the schema com.scene7.ipsapi.AssetJobLog (schemas.AssetJobLog),
// framed for a Kafka record value, and decodes them back.
//
// Two framings are written:
//
//   - Avro single-object encoding (NewSingleObjectEncoder), the default when no
//     Schema Registry is configured: the two bytes C3 01, the schema's 8-byte
//     little-endian CRC-64-AVRO fingerprint, then the Avro binary body. The
//     fingerprint is the one Apache Avro's Java library computes
//     (SchemaNormalization.parsingFingerprint64): over the Parsing Canonical
//     Form, which drops doc, default, aliases and logicalType, so consumers
//     using Java's BinaryMessageDecoder and a SchemaStore find the schema.
//     Content type ContentTypeSingleObject.
//   - The Confluent wire format (NewConfluentEncoder), when a Schema Registry
//     is configured: a zero byte, the registry's 4-byte big-endian schema id,
//     then the Avro binary body. The schema is registered (or found, if
//     already registered) once, under the subject that RegistryConfig's
//     SubjectStrategy names. Content type ContentTypeConfluent.
//
// Decode, DecodeNative and ToJSON read both framings back, for tools that
// print records and for tests.
//
// The package deliberately knows nothing of Kafka or SOAP, does not look up
// schemas by id when decoding (it assumes the writer schema is its own), and
// does not support schema evolution: readers that need another reader schema
// use their own Avro library with the published schema file.
package avro
