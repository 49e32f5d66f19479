package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/assetjoblog/assetjoblog/internal/ips"
)

func TestIPSErrorKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&ips.Fault{Kind: ips.FaultAuthentication, Code: 10001}, "authentication"},
		{fmt.Errorf("getAssetJobLogs: %w", &ips.Fault{Kind: ips.FaultAuthorization, Code: 20003}), "authorization"},
		{&ips.Fault{Kind: ips.FaultAPI, Code: 30000}, "api"},
		{&ips.Fault{Kind: ips.FaultUnknown}, "unknown_fault"},
		{&ips.TransportError{Op: "getJobLogs", StatusCode: 502}, "transport"},
		{fmt.Errorf("getAssetJobLogs: %w", ips.ErrMalformedResponse), "malformed"},
		{fmt.Errorf("getAssetJobLogs: %w", ips.ErrResponseTooLarge), "too_large"},
		{context.Canceled, "other"},
		{errors.New("something else"), "other"},
	} {
		if got := ipsErrorKind(c.err); got != c.want {
			t.Errorf("ipsErrorKind(%v): got %q, want %q", c.err, got, c.want)
		}
	}
}

// The dashboard and the alert rules refer to the producer's metrics by name.
// A metric renamed in the code, or misspelt in a panel or a rule, would leave
// an empty panel or an alert that never fires; these tests fail instead.
const (
	alertsFile    = "../../deploy/prometheus/alerts.yml"
	dashboardFile = "../../deploy/grafana/assetjoblog.json"
	runbookFile   = "../../docs/operations.md"
	runbookBase   = "https://github.com/assetjoblog/assetjoblog/blob/main/docs/operations.md#"
)

// scrapeOnly are the names the rules may use that Prometheus makes itself
// at scrape time rather than reading from /metrics.
var scrapeOnly = map[string]bool{"up": true}

// promQLExpr is one PromQL expression and where it was found.
type promQLExpr struct {
	where, expr string
}

// alertRule is the part of a Prometheus alerting rule the tests read.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readAlertRules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var rules []alertRule
	for _, g := range file.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s holds no rule", alertsFile)
	}
	return rules
}

// grafanaVariable matches a dashboard variable: $name, ${name} or ${name:format}.
var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)(:\w+)?\}?`)

// labelValues matches a variable query label_values(selector, label).
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*\w+\s*\)\s*$`)

// dashboardExprs returns every PromQL expression of the dashboard: each
// target of each panel (rows' panels included) and each query variable.
// Grafana's variables are replaced by plausible values so that the result
// parses: interval variables by a duration, the others by a string (they
// only appear inside label matchers).
func dashboardExprs(t *testing.T) []promQLExpr {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var dash struct {
		Panels []struct {
			panel
			Panels []panel `json:"panels"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	substitute := func(expr string) string {
		return grafanaVariable.ReplaceAllStringFunc(expr, func(v string) string {
			name := grafanaVariable.FindStringSubmatch(v)[1]
			if strings.HasPrefix(name, "__") && (strings.HasSuffix(name, "interval") || name == "__range") {
				return "5m"
			}
			return "value"
		})
	}
	var out []promQLExpr
	add := func(p panel) {
		for i, target := range p.Targets {
			if strings.TrimSpace(target.Expr) == "" {
				t.Errorf("%s: panel %q target %d has no expression", dashboardFile, p.Title, i)
				continue
			}
			out = append(out, promQLExpr{fmt.Sprintf("%s panel %q", dashboardFile, p.Title), substitute(target.Expr)})
		}
	}
	for _, p := range dash.Panels {
		add(p.panel)
		for _, inner := range p.Panels {
			add(inner)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1]
		}
		out = append(out, promQLExpr{fmt.Sprintf("%s variable %q", dashboardFile, v.Name), substitute(q)})
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no PromQL expression", dashboardFile)
	}
	return out
}

// metricNames returns the names of the series an expression selects.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			if name == "" { // {__name__="..."}
				for _, m := range vs.LabelMatchers {
					if m.Name == "__name__" {
						name = m.Value
					}
				}
			}
			names = append(names, name)
		}
		return nil
	})
	if len(names) == 0 {
		return nil, errors.New("selects no metric")
	}
	return names, nil
}

// exposedNames returns every series name a /metrics page can be queried
// by: each family's name, and for histograms and summaries the _bucket,
// _sum and _count series.
func exposedNames(t *testing.T, page string) map[string]bool {
	t.Helper()
	textParser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := textParser.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	names := map[string]bool{}
	for name, f := range families {
		names[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names
}

// scrapeProducer runs the producer until it has completed two rounds and
// returns its /metrics page.
func scrapeProducer(t *testing.T) string {
	t.Helper()
	s := newStack(t, 6, 3)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, s.args("-metrics-addr", "127.0.0.1:0", "-poll-interval", "100ms", "-log-level", "info"), s.env(), &stdout, &stderr)
	}()
	base := metricsBase(t, &stderr)
	waitFor(t, "two rounds", 10*time.Second, func() bool { return strings.Count(stderr.String(), `"msg":"round done"`) >= 2 })
	code, page := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: got %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	return page
}

func TestDashboardAndAlertsUseExposedMetrics(t *testing.T) {
	var exprs []promQLExpr
	for _, r := range readAlertRules(t) {
		exprs = append(exprs, promQLExpr{fmt.Sprintf("%s rule %s%s", alertsFile, r.Alert, r.Record), r.Expr})
	}
	exprs = append(exprs, dashboardExprs(t)...)

	page := scrapeProducer(t)
	exposed := exposedNames(t, page)
	if !strings.Contains(page, "\nassetjoblog_ready 1\n") {
		t.Errorf("/metrics after two rounds: want assetjoblog_ready 1")
	}
	checked := map[string]bool{}
	for _, e := range exprs {
		names, err := metricNames(e.expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", e.where, err, e.expr)
			continue
		}
		for _, name := range names {
			checked[name] = true
			if !exposed[name] && !scrapeOnly[name] {
				t.Errorf("%s: metric %s is not in the producer's /metrics", e.where, name)
			}
		}
	}
	t.Logf("%d expressions, %d distinct metric names checked against /metrics", len(exprs), len(checked))
}

// TestEveryAlertHasARunbookEntry checks each alerting rule's annotations and
// that its runbook_url points at a heading of docs/operations.md.
func TestEveryAlertHasARunbookEntry(t *testing.T) {
	b, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			anchors[headingAnchor(strings.TrimLeft(line, "#"))] = true
		}
	}
	for _, link := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(string(b), -1) {
		if !anchors[link[1]] {
			t.Errorf("%s links to #%s, which is no heading", runbookFile, link[1])
		}
	}
	for _, r := range readAlertRules(t) {
		if r.Alert == "" {
			continue
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("alert %s: no %s annotation", r.Alert, a)
			}
		}
		if r.Labels["severity"] == "" {
			t.Errorf("alert %s: no severity label", r.Alert)
		}
		url := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, runbookBase)
		if !ok {
			t.Errorf("alert %s: runbook_url %q does not start with %s", r.Alert, url, runbookBase)
			continue
		}
		if !anchors[anchor] {
			t.Errorf("alert %s: runbook_url anchor #%s is no heading of %s", r.Alert, anchor, runbookFile)
		}
		if want := strings.ToLower(r.Alert); anchor != want {
			t.Errorf("alert %s: runbook_url anchor #%s, want #%s (a heading named after the alert)", r.Alert, anchor, want)
		}
	}
}

// headingAnchor returns the anchor GitHub gives a Markdown heading: lower
// case, spaces as hyphens, punctuation other than hyphens and underscores
// dropped.
func headingAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
