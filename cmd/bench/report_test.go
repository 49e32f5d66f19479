package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestMedianAndPercentile(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(100 - i) // 100..1
	}
	if got := percentile(v, 99); got != 99 {
		t.Errorf("p99 of 1..100 = %v, want 99", got)
	}
	if got := percentile(v, 50); got != 50 {
		t.Errorf("p50 of 1..100 = %v, want 50", got)
	}
}

func TestCollectorChecksTargetsOnMedians(t *testing.T) {
	c := newCollector("cpu")
	for _, v := range []float64{30000, 10000, 25000} {
		c.add("throughput", "entries/s", v)
	}
	for _, v := range []float64{1.4, 1.6, 1.7} {
		c.add("ratio", "x", v)
	}
	c.add("context", "x", 1)
	c.target("throughput", ">=", 20000)
	c.target("ratio", "<=", 1.5)
	figs := c.figures()
	if len(figs) != 3 {
		t.Fatalf("got %d figures, want 3", len(figs))
	}
	if figs[0].Median != 25000 || !*figs[0].Met {
		t.Errorf("throughput: median %v met %v, want 25000 met", figs[0].Median, *figs[0].Met)
	}
	if figs[1].Median != 1.6 || *figs[1].Met {
		t.Errorf("ratio: median %v met %v, want 1.6 not met", figs[1].Median, *figs[1].Met)
	}
	if figs[2].Met != nil {
		t.Errorf("context figure has a verdict, want none")
	}
	var out bytes.Buffer
	printTable(&out, figs)
	if !strings.Contains(out.String(), ">= 20000  yes") || !strings.Contains(out.String(), "<= 1.50   no") {
		t.Errorf("table lacks the verdicts:\n%s", out.String())
	}
}

func TestParseConfigRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-scenarios", "cpu,nope"},
		{"-runs", "0"},
		{"-api-active", "10", "-api-assets", "5"},
		{"-fresh-for", "1s"},
		{"extra"},
	} {
		if _, err := parseConfig(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseConfig(%q) = nil error, want one", args)
		}
	}
	c, err := parseConfig([]string{"-quick", "-runs", "2"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Runs != 2 || c.CPUAssets != 20 {
		t.Errorf("-quick -runs 2: runs %d cpu-assets %d, want 2 and 20 (explicit flags win)", c.Runs, c.CPUAssets)
	}
}
