// Package schemas embeds the Avro schemas of the records assetjoblog writes,
// so that the binary and the tests use the exact file that is published in
// the repository.
package schemas

import _ "embed"

// AssetJobLog is the Avro schema (JSON) of com.scene7.ipsapi.AssetJobLog,
// the value of every record on the topic.
//
//go:embed assetjoblog.avsc
var AssetJobLog string
