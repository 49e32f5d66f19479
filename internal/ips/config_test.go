package ips_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips"
)

func TestConfigValidateNamesTheBadField(t *testing.T) {
	ok := ips.Config{Region: "na", User: "u@example.com", Password: "pw"}
	tests := []struct {
		name  string
		mod   func(*ips.Config)
		field string
	}{
		{"no endpoint", func(c *ips.Config) { c.Region = "" }, "URL or Region"},
		{"both endpoints", func(c *ips.Config) { c.URL = "https://example.com/x" }, "URL or Region"},
		{"unknown region", func(c *ips.Config) { c.Region = "mars" }, "Region \"mars\""},
		{"bad scheme", func(c *ips.Config) { c.Region, c.URL = "", "ftp://example.com/x" }, "URL scheme"},
		{"no host", func(c *ips.Config) { c.Region, c.URL = "", "https:///x" }, "URL has no host"},
		{"credentials in URL", func(c *ips.Config) { c.Region, c.URL = "", "https://u:pw@example.com/x" }, "URL must not carry credentials"},
		{"no credentials", func(c *ips.Config) { c.Password = "" }, "Password or AccessToken"},
		{"both credentials", func(c *ips.Config) { c.AccessToken = "t" }, "Password or AccessToken"},
		{"password without user", func(c *ips.Config) { c.User = "" }, "User"},
		{"bad version", func(c *ips.Config) { c.APIVersion = "2014/04" }, "APIVersion"},
		{"negative size", func(c *ips.Config) { c.MaxResponseBytes = -1 }, "MaxResponseBytes"},
		{"page too big", func(c *ips.Config) { c.DetailPageSize = 1001 }, "DetailPageSize"},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %q", err, tt.field)
			}
			if _, nerr := ips.New(cfg); nerr == nil {
				t.Error("New accepted the config")
			}
			if strings.Contains(err.Error(), "pw") && tt.name != "credentials in URL" {
				t.Errorf("error %q may show the password", err)
			}
		})
	}
}

func TestRegionsResolveToIPSEndpoints(t *testing.T) {
	want := map[string]string{
		"na":           "https://s7sps1apissl.scene7.com/scene7/services/IpsApiService",
		"emea":         "https://s7sps3apissl.scene7.com/scene7/services/IpsApiService",
		"apac":         "https://s7sps5apissl.scene7.com/scene7/services/IpsApiService",
		"na-staging":   "https://s7sps1apissl-staging.scene7.com/scene7/services/IpsApiService",
		"emea-staging": "https://s7sps3apissl-staging.scene7.com/scene7/services/IpsApiService",
		"apac-staging": "https://s7sps5apissl-staging.scene7.com/scene7/services/IpsApiService",
	}
	if got := ips.Regions(); len(got) != len(want) {
		t.Fatalf("Regions() = %q, want %d regions", got, len(want))
	}
	for region, u := range want {
		if got, ok := ips.RegionURL(region); !ok || got != u {
			t.Errorf("RegionURL(%q) = %q, %v; want %q", region, got, ok, u)
		}
	}
}

func TestConfigPrintingRedactsSecrets(t *testing.T) {
	cfg := ips.Config{Region: "na", User: "u@example.com", Password: "hunter2-pw", AccessToken: "tok-xyz-token"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "ips", cfg, "ptr", &cfg)
	outputs := []string{
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%s", cfg),
		fmt.Sprintf("%v", &cfg), fmt.Sprintf("%+v", &cfg), fmt.Sprintf("%#v", &cfg),
		fmt.Sprintf("%v", struct{ C ips.Config }{cfg}), fmt.Sprintf("%+v", []ips.Config{cfg}),
		logged.String(),
	}
	for _, out := range outputs {
		if strings.Contains(out, "hunter2") || strings.Contains(out, "tok-xyz") {
			t.Errorf("secret in %q", out)
		}
		if !strings.Contains(out, "u@example.com") {
			t.Errorf("output %q lost the non-secret fields", out)
		}
	}
}
