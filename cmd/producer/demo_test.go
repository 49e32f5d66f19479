package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestDemoStdoutIsJSONLines runs `producer -demo -once` and reads its stdout
// the way `producer -demo | jq` would: every line must be one JSON object,
// a record, and nothing else may be there. The summary goes to stderr.
func TestDemoStdoutIsJSONLines(t *testing.T) {
	var stdout, stderr syncBuffer
	if err := run(t.Context(), []string{"-demo", "-once", "-log-format", "json"}, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	ids := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("stdout line %d is not JSON: %v\n%q", n, err, sc.Text())
		}
		if dec.More() {
			t.Fatalf("stdout line %d holds more than one JSON document: %q", n, sc.Text())
		}
		id, _ := rec["eventId"].(string)
		if id == "" || rec["assetHandle"] == nil || rec["logDate"] == nil {
			t.Fatalf("stdout line %d is not a record: %q", n, sc.Text())
		}
		ids[id] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := len(ids), demoAssets*demoEntries; got != want {
		t.Errorf("records on stdout: got %d distinct, want %d", got, want)
	}
	if !strings.Contains(stderr.String(), "demo summary: ") {
		t.Errorf("stderr lacks the demo summary:\n%s", stderr.String())
	}
}
