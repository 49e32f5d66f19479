package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Figure is one measured quantity: the value of every run and their median,
// with the target it is held against, if any.
type Figure struct {
	Scenario string    `json:"scenario"`
	Name     string    `json:"name"`
	Unit     string    `json:"unit"`
	Median   float64   `json:"median"`
	Runs     []float64 `json:"runs"`
	// Target is the bound the median must respect ("<=" or ">=" Limit);
	// empty for figures shown for context.
	Target string  `json:"target,omitempty"`
	Limit  float64 `json:"limit,omitempty"`
	Met    *bool   `json:"met,omitempty"`
}

// Report is everything the command writes as JSON.
type Report struct {
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	Machine  Machine   `json:"machine"`
	Broker   string    `json:"broker"`
	Runs     int       `json:"runs"`
	Quick    bool      `json:"quick"`
	Figures  []*Figure `json:"figures"`
	Notes    []string  `json:"notes,omitempty"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	LoadAvg   string `json:"load_avg_at_start"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

// median returns the median of v (the mean of the two middle values for an
// even count), NaN for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile returns the p-th percentile (0..100) of v by nearest rank.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// collector gathers the per-run values of the figures of one scenario.
type collector struct {
	scenario string
	order    []string
	figs     map[string]*Figure
}

func newCollector(scenario string) *collector {
	return &collector{scenario: scenario, figs: map[string]*Figure{}}
}

// add records one run's value of a figure.
func (c *collector) add(name, unit string, v float64) {
	f, ok := c.figs[name]
	if !ok {
		f = &Figure{Scenario: c.scenario, Name: name, Unit: unit}
		c.figs[name] = f
		c.order = append(c.order, name)
	}
	f.Runs = append(f.Runs, v)
}

// target sets the bound of a figure: op is "<=" or ">=".
func (c *collector) target(name, op string, limit float64) {
	if f, ok := c.figs[name]; ok {
		f.Target, f.Limit = op, limit
	}
}

// figures returns the figures with medians computed and targets checked.
func (c *collector) figures() []*Figure {
	out := make([]*Figure, 0, len(c.order))
	for _, name := range c.order {
		f := c.figs[name]
		f.Median = median(f.Runs)
		if f.Target != "" {
			met := f.Median <= f.Limit
			if f.Target == ">=" {
				met = f.Median >= f.Limit
			}
			f.Met = &met
		}
		out = append(out, f)
	}
	return out
}

// printTable writes the figures as an aligned table.
func printTable(w io.Writer, figs []*Figure) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tfigure\tmedian\tunit\ttarget\tmet\truns")
	for _, f := range figs {
		target, met := "-", "-"
		if f.Target != "" {
			target = f.Target + " " + formatValue(f.Limit)
			met = "no"
			if *f.Met {
				met = "yes"
			}
		}
		runs := make([]string, len(f.Runs))
		for i, v := range f.Runs {
			runs[i] = formatValue(v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Scenario, f.Name, formatValue(f.Median), f.Unit, target, met, strings.Join(runs, " "))
	}
	tw.Flush()
}

func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "n/a"
	case a >= 1000 || a == math.Trunc(a):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// writeJSON writes the report to path, creating its directory.
func writeJSON(path string, r *Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}
