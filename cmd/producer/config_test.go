package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEnvironmentMirrorsFlags(t *testing.T) {
	cfg, err := parseConfig([]string{"-topic", "from-flag"}, envMap(map[string]string{
		"PRODUCER_IPS_URL":      "https://ips.example/scene7/services/IpsApiService",
		"PRODUCER_TOPIC":        "from-env",
		"PRODUCER_CONCURRENCY":  "3",
		"PRODUCER_ONCE":         "true",
		"PRODUCER_IPS_PASSWORD": "s3cret",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.IPSURL, "https://ips.example/scene7/services/IpsApiService"; got != want {
		t.Errorf("IPSURL: got %q, want %q", got, want)
	}
	if got, want := cfg.Topic, "from-flag"; got != want {
		t.Errorf("Topic: got %q, want %q (the flag wins)", got, want)
	}
	if cfg.Concurrency != 3 || !cfg.Once {
		t.Errorf("Concurrency, Once: got %d, %v; want 3, true", cfg.Concurrency, cfg.Once)
	}
	if cfg.ipsPassword != "s3cret" {
		t.Errorf("password not read from PRODUCER_IPS_PASSWORD")
	}
}

func TestHelpListsEveryFlagWithDefaultAndEnv(t *testing.T) {
	var stderr bytes.Buffer
	_, err := parseConfig([]string{"-h"}, envMap(nil), &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
	help := stderr.String()
	fs := newFlagSet(&config{}, &bytes.Buffer{})
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(help, "  -"+f.Name+"\n") || !strings.Contains(help, "env "+envName(f.Name)+")") {
			t.Errorf("-h does not show -%s with %s", f.Name, envName(f.Name))
		}
	})
	for _, name := range []string{"ips-url", "ips-user", "ips-api-version", "company", "assets", "assets-file", "brokers",
		"topic", "schema-registry", "state", "poll-interval", "once", "demo", "metrics-addr", "concurrency"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag -%s of the command-line contract is missing", name)
		}
	}
	if fs.Lookup("ips-password") != nil {
		t.Error("a -ips-password flag exists: passwords must not be flag values")
	}
	if !strings.Contains(help, "(default 2014-04-03; env PRODUCER_IPS_API_VERSION)") {
		t.Errorf("-h does not state the API version default:\n%s", help)
	}
	if n < 20 {
		t.Fatalf("only %d flags", n)
	}
}

func TestBadConfigurationIsOneClearLine(t *testing.T) {
	base := []string{"-ips-url", "https://ips.example/x", "-ips-user", "u@example.com", "-company", "c|6", "-assets", "a|1"}
	env := map[string]string{"PRODUCER_IPS_PASSWORD": "pw-must-not-leak"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"-nope"}, env, "flag provided but not defined: -nope"},
		{"bad duration", []string{"-poll-interval", "soon"}, env, "-poll-interval"},
		{"bad env value", nil, map[string]string{"PRODUCER_CONCURRENCY": "many"}, "PRODUCER_CONCURRENCY"},
		{"missing company", []string{"-ips-url", "https://x/y", "-ips-user", "u", "-assets", "a"}, env, "-company is required"},
		{"missing password", base, map[string]string{}, "PRODUCER_IPS_PASSWORD"},
		{"bad compression", append(base, "-compression", "brotli"), env, `-compression: "brotli" is not one of`},
		{"zero concurrency", append(base, "-concurrency", "0"), env, "-concurrency: must be at least 1"},
		{"assets with discover", append(base, "-discover"), env, "-discover"},
		{"assets with all-assets", append(base, "-all-assets"), env, "-all-assets polls every asset of the catalog"},
		{"discover with all-assets", []string{"-ips-url", "https://x/y", "-ips-user", "u", "-company", "c", "-discover", "-all-assets"}, env, "-all-assets polls every asset"},
		{"backfill without discover", []string{"-ips-url", "https://x/y", "-ips-user", "u", "-company", "c", "-all-assets", "-backfill"}, env, "-backfill works with -discover"},
		{"bad trash state", append(base, "-catalog-trash-state", "Bin"), env, `-catalog-trash-state: "Bin" is not one of`},
		{"no asset source", []string{"-ips-url", "https://x/y", "-ips-user", "u", "-company", "c"}, env, "-assets or -assets-file is required"},
		{"hash without key", append(base, "-user-email", "hash"), env, "PRODUCER_USER_EMAIL_KEY"},
		{"missing password file", append(base, "-ips-password-file", "/nonexistent/pw"), env, "-ips-password-file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tc.args, envMap(tc.env), &stdout, &stderr)
			if err == nil {
				t.Fatal("run succeeded")
			}
			var out bytes.Buffer
			if code := exitCode(err, &out); code != 2 {
				t.Errorf("exit code: got %d, want 2", code)
			}
			line := out.String()
			if strings.Count(line, "\n") != 1 || !strings.Contains(line, tc.want) {
				t.Errorf("got %q, want one line containing %q", line, tc.want)
			}
			if strings.Contains(line+stderr.String()+stdout.String(), "pw-must-not-leak") {
				t.Error("password in output")
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add("-ips-url\x00https://x/y\x00-concurrency\x004", "PRODUCER_TOPIC=t")
	f.Add("-once\x00-poll-interval\x001s", "PRODUCER_CONCURRENCY=x")
	f.Add("-assets\x00a|1,a|2\x00-demo", "PRODUCER_SINCE=-5h")
	f.Fuzz(func(t *testing.T, args, env string) {
		m := map[string]string{}
		for _, kv := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		cfg, err := parseConfig(strings.Split(args, "\x00"), envMap(m), &bytes.Buffer{})
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return
			}
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parse error is not a usage error: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		_ = cfg.Validate()
		_, _ = cfg.assetList()
	})
}

func TestReadmeDocumentsEveryFlagAndSecret(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	fs := newFlagSet(&config{}, &bytes.Buffer{})
	fs.VisitAll(func(f *flag.Flag) {
		if !bytes.Contains(readme, []byte("`-"+f.Name+"`")) || !bytes.Contains(readme, []byte("`"+envName(f.Name)+"`")) {
			t.Errorf("README.md does not document -%s and %s", f.Name, envName(f.Name))
		}
	})
	for _, e := range secretEnv {
		if !bytes.Contains(readme, []byte("`"+e+"`")) {
			t.Errorf("README.md does not document %s", e)
		}
	}
	for _, cmd := range []string{"go run ./cmd/producer -demo", "go test ./..."} {
		if !bytes.Contains(readme, []byte(cmd)) {
			t.Errorf("README.md does not show %q", cmd)
		}
	}
}
