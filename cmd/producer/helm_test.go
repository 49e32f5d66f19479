package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// The Kubernetes chart and the values its test renders it with.
const (
	chartDir        = "../../deploy/helm/assetjoblog"
	chartTestValues = chartDir + "/ci/test-values.yaml"
)

func TestHelmChartRendersStatelessReplicas(t *testing.T) {
	objs, err := renderChart(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkChart(objs); err != nil {
		t.Errorf("%s:\n%v", chartDir, err)
	}
}

// TestHelmChartCheckRejectsBrokenCharts shows that checkChart can fail:
// each case breaks a template or a value and wants the problem named.
func TestHelmChartCheckRejectsBrokenCharts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		template string // file under templates/ to change, with old -> new
		old, new string
		drop     bool // the template ends after the change: {{- end }} is appended
		values   map[string]any
		want     []string // all in the error
	}{
		{
			name: "one replica", values: map[string]any{"replicaCount": 1},
			want: []string{"Deployment has 1 replicas, want 2"},
		},
		{
			name: "password as a plain value", template: "deployment.yaml",
			old:  "            - name: PRODUCER_IPS_PASSWORD\n              valueFrom:\n                secretKeyRef:\n                  name: {{ required \"ips.existingSecret is required: the Secret holding the IPS password\" .Values.ips.existingSecret | quote }}\n                  key: {{ .Values.ips.passwordKey | quote }}",
			new:  "            - name: PRODUCER_IPS_PASSWORD\n              value: hunter2",
			want: []string{"PRODUCER_IPS_PASSWORD is not taken from a Secret"},
		},
		{
			name: "password as a flag", template: "deployment.yaml",
			old: "          env:\n", new: "          args: [\"-ips-password=hunter2\"]\n          env:\n",
			want: []string{"args", "flags"},
		},
		{
			name: "persistent volume claim", template: "deployment.yaml",
			old: "          emptyDir:\n            sizeLimit: 16Mi", new: "          persistentVolumeClaim:\n            claimName: state",
			want: []string{`volume "tmp" is a PersistentVolumeClaim`},
		},
		{
			name: "no readiness probe", template: "deployment.yaml",
			old: "              path: /readyz", new: "              path: /healthz",
			want: []string{"readiness probe asks /healthz, want /readyz"},
		},
		{
			name: "probe on another port", template: "deployment.yaml",
			old: "              path: /healthz\n              port: metrics", new: "              path: /healthz\n              port: 8080",
			want: []string{"liveness probe asks port 8080"},
		},
		{
			name: "root allowed", template: "deployment.yaml",
			old: "runAsNonRoot: true", new: "runAsNonRoot: false",
			want: []string{"runAsNonRoot"},
		},
		{
			name: "writable root filesystem", template: "deployment.yaml",
			old: "readOnlyRootFilesystem: true", new: "readOnlyRootFilesystem: false",
			want: []string{"readOnlyRootFilesystem"},
		},
		{
			name: "no resources", values: map[string]any{"resources": map[string]any{"requests": nil, "limits": nil}},
			want: []string{"resources: no cpu request", "no memory limit"},
		},
		{
			name: "no disruption budget", template: "pdb.yaml",
			old: "apiVersion: policy/v1", new: "{{- if false }}\napiVersion: policy/v1", drop: true,
			want: []string{"no PodDisruptionBudget"},
		},
		{
			name: "budget selecting other pods", template: "pdb.yaml",
			old: `{{- include "assetjoblog.selectorLabels" . | nindent 6 }}`, new: "app: other",
			want: []string{"PodDisruptionBudget selects", "not the producer pods"},
		},
		{
			name: "unknown field", template: "pdb.yaml",
			old: "  maxUnavailable:", new: "  maxUnavialable:",
			want: []string{"PodDisruptionBudget", `unknown field "maxUnavialable"`},
		},
		{
			name: "variable of no flag", values: map[string]any{"extraEnv": map[string]any{"PRODUCER_STATE_TOPICS": "x"}},
			want: []string{"PRODUCER_STATE_TOPICS is neither the variable of a flag", "did you mean PRODUCER_STATE_TOPIC?"},
		},
		{
			name: "state in a file", values: map[string]any{"kafka": map[string]any{"stateTopic": ""}, "extraEnv": map[string]any{"PRODUCER_STATE": "/tmp/state.db"}},
			want: []string{"kafka.stateTopic is required"},
		},
		{
			name: "value Validate rejects", values: map[string]any{"extraEnv": map[string]any{"PRODUCER_LOG_LEVEL": "loud"}},
			want: []string{"-log-level"},
		},
		{
			name: "metrics port not the probed one", values: map[string]any{"extraEnv": map[string]any{"PRODUCER_METRICS_ADDR": ":9191"}},
			want: []string{"PRODUCER_METRICS_ADDR"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var edit func(*chart.Chart) error
			if tc.template != "" {
				edit = func(c *chart.Chart) error {
					for _, f := range c.Templates {
						if f.Name != "templates/"+tc.template {
							continue
						}
						if !strings.Contains(string(f.Data), tc.old) {
							return fmt.Errorf("%s has no %q to replace", f.Name, tc.old)
						}
						f.Data = []byte(strings.Replace(string(f.Data), tc.old, tc.new, 1))
						if tc.drop {
							f.Data = append(f.Data, "{{- end }}\n"...)
						}
						return nil
					}
					return fmt.Errorf("chart has no template %s", tc.template)
				}
			}
			objs, err := renderChart(t, edit, tc.values)
			if err == nil {
				err = checkChart(objs)
			}
			wantRejected(t, err, tc.want)
		})
	}
}

// chartObjects are the objects a release of the chart creates, each
// decoded strictly into its Kubernetes API type.
type chartObjects struct {
	deployments []*appsv1.Deployment
	budgets     []*policyv1.PodDisruptionBudget
	configMaps  []*corev1.ConfigMap
	services    []*corev1.Service
}

// renderChart renders the chart with the test values plus overrides, after
// edit has changed its templates, as helm install would (the helm v3 SDK's
// loader and engine, strict about missing values), and decodes every
// document strictly: an unknown kind or field is an error.
func renderChart(t *testing.T, edit func(*chart.Chart) error, overrides map[string]any) (*chartObjects, error) {
	t.Helper()
	c, err := loader.LoadDir(chartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("chart metadata: %w", err)
	}
	if edit != nil {
		if err := edit(c); err != nil {
			t.Fatal(err)
		}
	}
	vals, err := chartutil.ReadValuesFile(chartTestValues)
	if err != nil {
		return nil, err
	}
	vals = chartutil.CoalesceTables(overrides, vals.AsMap())
	rv, err := chartutil.ToRenderValues(c, vals, chartutil.ReleaseOptions{
		Name: "ipsjobs", Namespace: "scene7", Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	rendered, err := engine.Engine{Strict: true}.Render(c, rv)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	objs := &chartObjects{}
	var problems []error
	for _, name := range sortedKeys(rendered) {
		if path.Ext(name) != ".yaml" || strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		docs := releaseutil.SplitManifests(rendered[name])
		for _, key := range releaseutil.BySplitManifestsOrder(sortedKeys(docs)) {
			if err := objs.decode(docs[key]); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	return objs, errors.Join(problems...)
}

// decode decodes one YAML document into the API type of its kind,
// refusing unknown fields.
func (o *chartObjects) decode(doc string) error {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
		return err
	}
	strict := func(into any) error {
		if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
			return fmt.Errorf("%s %s: %w", meta.APIVersion, meta.Kind, err)
		}
		return nil
	}
	switch meta.APIVersion + " " + meta.Kind {
	case "apps/v1 Deployment":
		d := &appsv1.Deployment{}
		o.deployments = append(o.deployments, d)
		return strict(d)
	case "policy/v1 PodDisruptionBudget":
		b := &policyv1.PodDisruptionBudget{}
		o.budgets = append(o.budgets, b)
		return strict(b)
	case "v1 ConfigMap":
		m := &corev1.ConfigMap{}
		o.configMaps = append(o.configMaps, m)
		return strict(m)
	case "v1 Service":
		s := &corev1.Service{}
		o.services = append(o.services, s)
		return strict(s)
	}
	return fmt.Errorf("unexpected object %s %s", meta.APIVersion, meta.Kind)
}

// checkChart checks the rendered release: two stateless replicas (no
// PersistentVolumeClaim, checkpoints in the state topic), probes on
// /healthz and /readyz of the metrics port, the IPS password from a Secret,
// a PodDisruptionBudget over the pods, non-root with a read-only root
// filesystem, resources, and an environment the producer's flags accept.
func checkChart(o *chartObjects) error {
	var problems []error
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	if len(o.deployments) != 1 {
		errorf("%d Deployments, want 1", len(o.deployments))
		return errors.Join(problems...)
	}
	d := o.deployments[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		got := "default (1)"
		if d.Spec.Replicas != nil {
			got = fmt.Sprint(*d.Spec.Replicas)
		}
		errorf("Deployment has %s replicas, want 2", got)
	}
	pod := d.Spec.Template
	for k, v := range d.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			errorf("Deployment selector %s=%s does not match its pod labels %v", k, v, pod.Labels)
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
			errorf("volume %q is a PersistentVolumeClaim: the replicas keep no state on disk", v.Name)
		}
	}
	if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		errorf("pod securityContext.runAsNonRoot is not true")
	}
	if len(pod.Spec.Containers) != 1 {
		errorf("%d containers, want the producer alone", len(pod.Spec.Containers))
		return errors.Join(problems...)
	}
	c := pod.Spec.Containers[0]
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		errorf("container securityContext.readOnlyRootFilesystem is not true")
	} else if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		errorf("container securityContext.allowPrivilegeEscalation is not false")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			errorf("resources: no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			errorf("resources: no %s limit", r)
		}
	}
	if len(c.Command) > 0 || len(c.Args) > 0 {
		errorf("container sets command/args %q; configure the producer through PRODUCER_* variables, never flags (a secret in a flag shows in process listings)",
			append(slices.Clone(c.Command), c.Args...))
	}

	env := checkChartEnv(c, o, &problems)

	// Probes on the metrics port the producer serves.
	metricsPort := int32(-1)
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			metricsPort = p.ContainerPort
		}
	}
	if want := fmt.Sprintf(":%d", metricsPort); env["PRODUCER_METRICS_ADDR"] != want {
		errorf("PRODUCER_METRICS_ADDR is %q, but the probes ask the container port %q (%d)", env["PRODUCER_METRICS_ADDR"], "metrics", metricsPort)
	}
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			errorf("no HTTP %s probe", p.kind)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path {
			errorf("%s probe asks %s, want %s", p.kind, g.Path, p.path)
		}
		if port := g.Port.String(); port != "metrics" && port != fmt.Sprint(metricsPort) {
			errorf("%s probe asks port %s, not the metrics port %d", p.kind, port, metricsPort)
		}
	}

	// A budget over exactly the producer pods.
	if len(o.budgets) == 0 {
		errorf("no PodDisruptionBudget: a node drain could evict every replica at once")
	}
	for _, b := range o.budgets {
		if b.Spec.MinAvailable == nil && b.Spec.MaxUnavailable == nil {
			errorf("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", b.Name)
		}
		if b.Spec.Selector == nil || len(b.Spec.Selector.MatchLabels) == 0 {
			errorf("PodDisruptionBudget %s has no selector", b.Name)
			continue
		}
		for k, v := range b.Spec.Selector.MatchLabels {
			if pod.Labels[k] != v {
				errorf("PodDisruptionBudget selects %s=%s, not the producer pods (%v)", k, v, pod.Labels)
			}
		}
	}
	return errors.Join(problems...)
}

// checkChartEnv checks the container's environment against the producer's
// flags, as the compose check does: every PRODUCER_* variable is the
// variable of a flag or a secret; secrets come from Secrets; the assets file
// comes from a mounted ConfigMap; and the configuration they make validates
// and keeps the checkpoints in a state topic. It returns the plain values.
func checkChartEnv(c corev1.Container, o *chartObjects, problems *[]error) map[string]string {
	errorf := func(format string, args ...any) { *problems = append(*problems, fmt.Errorf(format, args...)) }
	known := map[string]bool{}
	newFlagSet(&config{}, io.Discard).VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = true })
	for _, s := range secretEnv {
		known[s] = true
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, envPrefix) {
			continue
		}
		if !known[e.Name] {
			errorf("%s is neither the variable of a flag nor a secret variable%s", e.Name, didYouMean(e.Name, known))
			continue
		}
		secret := slices.Contains(secretEnv, e.Name)
		switch {
		case secret && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil):
			errorf("%s is not taken from a Secret (valueFrom.secretKeyRef)", e.Name)
		case secret:
			env[e.Name] = "from-secret" // a stand-in: the chart never holds the value
		case e.ValueFrom != nil:
			errorf("%s takes its value from %v; only secrets come from elsewhere", e.Name, e.ValueFrom)
		default:
			env[e.Name] = e.Value
		}
	}
	if _, ok := env[envIPSPassword]; !ok {
		if _, token := env[envIPSAccessToken]; !token {
			errorf("%s is not set from a Secret", envIPSPassword)
		}
	}

	// The assets file is read inside the container: find it in a mounted
	// ConfigMap and check a copy of it.
	check := maps.Clone(env)
	if p := env["PRODUCER_ASSETS_FILE"]; p != "" {
		data, err := configMapFile(c, o, p)
		if err != nil {
			errorf("PRODUCER_ASSETS_FILE: %v", err)
			delete(check, "PRODUCER_ASSETS_FILE")
		} else {
			f := filepath.Join(os.TempDir(), fmt.Sprintf("assetjoblog-chart-assets-%d.txt", os.Getpid()))
			if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
				errorf("%v", err)
			}
			defer os.Remove(f)
			check["PRODUCER_ASSETS_FILE"] = f
		}
	}
	cfg, err := parseConfig(nil, func(k string) string { return check[k] }, io.Discard)
	if err != nil {
		errorf("%v", err)
		return env
	}
	if err := cfg.Validate(); err != nil {
		errorf("the configuration does not validate: %v", err)
	}
	if cfg.StateTopic == "" {
		errorf("PRODUCER_STATE_TOPIC is unset: each replica would keep its own checkpoint file and publish every entry again")
	}
	if !cfg.Discover {
		if assets, err := cfg.assetList(); err == nil && len(assets) == 0 {
			errorf("PRODUCER_ASSETS_FILE names no asset")
		}
	}
	return env
}

// configMapFile returns the content of the file p inside the container,
// which a volume mount of a ConfigMap of the release provides.
func configMapFile(c corev1.Container, o *chartObjects, p string) (string, error) {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path.Clean(p), path.Clean(m.MountPath)+"/")
		if !ok {
			continue
		}
		for _, v := range o.deployments[0].Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			for _, cm := range o.configMaps {
				if cm.Name == v.ConfigMap.Name {
					data, ok := cm.Data[rel]
					if !ok {
						return "", fmt.Errorf("ConfigMap %s has no key %q", cm.Name, rel)
					}
					return data, nil
				}
			}
			return "", fmt.Errorf("volume %q names ConfigMap %s, which the chart does not create", v.Name, v.ConfigMap.Name)
		}
	}
	return "", fmt.Errorf("%s is in no ConfigMap volume of the container", p)
}
