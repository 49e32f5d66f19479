package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// The compose stack at the repository root; relative paths in it (build
// context, bind mounts) are resolved against composeProjectDir.
const (
	composeFile       = "../../docker-compose.yml"
	composeProjectDir = "../.."
)

func TestComposeStackMatchesProducerFlags(t *testing.T) {
	if err := checkCompose(t.Context(), composeFile, composeProjectDir); err != nil {
		t.Errorf("%s:\n%v", composeFile, err)
	}
}

// TestComposeCheckRejectsBrokenStacks shows that checkCompose can fail: each
// case breaks a copy of the compose file and wants the problem named.
func TestComposeCheckRejectsBrokenStacks(t *testing.T) {
	orig, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, yml string) string
		want   []string // all in the error
	}{
		{
			name:   "typo in a variable name",
			break_: replacing("PRODUCER_TOPIC:", "PRODUCER_TOPICC:"),
			want:   []string{"PRODUCER_TOPICC", "did you mean PRODUCER_TOPIC?"},
		},
		{
			name: "ips-sim service removed",
			break_: func(t *testing.T, yml string) string {
				yml = removingBlock("  ips-sim:")(t, yml)      // the service
				return removingBlock("      ips-sim:")(t, yml) // the producer's depends_on entry
			},
			want: []string{`service "ips-sim" is missing`, `PRODUCER_IPS_URL names host "ips-sim", which is not a service`},
		},
		{
			name:   "ips-sim service removed, still depended on",
			break_: removingBlock("  ips-sim:"),
			want:   []string{`"ips-sim"`},
		},
		{
			name:   "broker port of the host listener",
			break_: replacing("PRODUCER_BROKERS: kafka:19092", "PRODUCER_BROKERS: kafka:9092"),
			want:   []string{"PRODUCER_BROKERS names kafka:9092", "advertised to containers: kafka:19092"},
		},
		{
			name:   "broker on localhost",
			break_: replacing("PRODUCER_BROKERS: kafka:19092", "PRODUCER_BROKERS: localhost:9092"),
			want:   []string{`PRODUCER_BROKERS names host "localhost"`},
		},
		{
			name:   "value a flag does not parse",
			break_: replacing("PRODUCER_POLL_INTERVAL: 5s", "PRODUCER_POLL_INTERVAL: five seconds"),
			want:   []string{"PRODUCER_POLL_INTERVAL"},
		},
		{
			name:   "value Validate rejects",
			break_: replacing("PRODUCER_LOG_FORMAT: json", "PRODUCER_LOG_FORMAT: yaml"),
			want:   []string{"-log-format"},
		},
		{
			name:   "wrong registry port",
			break_: replacing("http://schema-registry:8081", "http://schema-registry:8082"),
			want:   []string{"PRODUCER_SCHEMA_REGISTRY uses port 8082 of schema-registry, which listens on 8081"},
		},
		{
			name:   "ips-sim on loopback only",
			break_: replacing("- 0.0.0.0:8089", "- 127.0.0.1:8089"),
			want:   []string{"ips-sim listens on 127.0.0.1:8089"},
		},
		{
			name:   "password ips-sim does not accept",
			break_: replacing("PRODUCER_IPS_PASSWORD: *ips-password", "PRODUCER_IPS_PASSWORD: wrong"),
			want:   []string{"PRODUCER_IPS_PASSWORD is not the password ips-sim accepts"},
		},
		{
			name:   "replicas on state files",
			break_: replacing("PRODUCER_STATE_TOPIC: ips.asset-job-logs.state", "PRODUCER_STATE: /tmp/state.db"),
			want:   []string{"no named volume is mounted at /tmp", "2 replicas would each keep a checkpoint file of their own"},
		},
		{
			name:   "one replica",
			break_: replacing("replicas: 2", "replicas: 1"),
			want:   []string{"producer: 1 replica, want 2"},
		},
		{
			name:   "state topic not compacted",
			break_: replacing("cleanup.policy=compact", "cleanup.policy=delete"),
			want:   []string{"kafka-init-state creates ips.asset-job-logs.state without --config cleanup.policy=compact"},
		},
		{
			name:   "state topic with other partitions",
			break_: replacing("ips.asset-job-logs.state\n      - --partitions\n      - \"3\"", "ips.asset-job-logs.state\n      - --partitions\n      - \"6\""),
			want:   []string{"ips.asset-job-logs.state with 6 partitions, but the data topic has 3"},
		},
		{
			name:   "state topic nobody creates",
			break_: replacing("PRODUCER_STATE_TOPIC: ips.asset-job-logs.state", "PRODUCER_STATE_TOPIC: ips.other.state"),
			want:   []string{`no service creates the state topic "ips.other.state"`},
		},
		{
			name:   "metrics port not published",
			break_: replacing(`"127.0.0.1:9090-9091:9090"`, `"127.0.0.1:9191:9191"`),
			want:   []string{"metrics port 9090 is not published"},
		},
		{
			name:   "kafka port not published",
			break_: replacing(`"127.0.0.1:9092:9092"`, `"127.0.0.1:9094:9092"`),
			want:   []string{"kafka: no port publishes its host listener localhost:9092"},
		},
		{
			name:   "healthcheck removed",
			break_: removingBlock("    healthcheck:", "curl"),
			want:   []string{"schema-registry has no healthcheck"},
		},
		{
			name:   "untagged image",
			break_: replacing("confluentinc/cp-schema-registry:7.9.0", "confluentinc/cp-schema-registry"),
			want:   []string{`schema-registry: image "confluentinc/cp-schema-registry" has no explicit tag`},
		},
		{
			name:   "latest image",
			break_: replacing("apache/kafka:4.1.1", "apache/kafka:latest"),
			want:   []string{`kafka: image "apache/kafka:latest"`},
		},
		{
			name:   "assets file not in the container",
			break_: replacing("./deploy/assets.txt:/etc/assetjoblog/assets.txt:ro", "./deploy/assets.txt:/etc/assets.txt:ro"),
			want:   []string{"PRODUCER_ASSETS_FILE: /etc/assetjoblog/assets.txt is in no bind mount"},
		},
		{
			name:   "topic kafka-init does not create",
			break_: replacing("PRODUCER_TOPIC: ips.asset-job-logs", "PRODUCER_TOPIC: ips.other"),
			want:   []string{`PRODUCER_TOPIC is "ips.other" but kafka-init creates "ips.asset-job-logs"`},
		},
		{
			name:   "binary the image does not have",
			break_: replacing(`entrypoint: ["/ips-sim"]`, `entrypoint: ["/ips-simulator"]`),
			want:   []string{`ips-sim: entrypoint "/ips-simulator" is not a binary the Dockerfile copies`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broken := filepath.Join(t.TempDir(), "docker-compose.yml")
			if err := os.WriteFile(broken, []byte(tc.break_(t, string(orig))), 0o644); err != nil {
				t.Fatal(err)
			}
			err := checkCompose(t.Context(), broken, composeProjectDir)
			wantRejected(t, err, tc.want)
		})
	}
}

// replacing returns a change of the compose text that replaces every old
// with new; the test fails when old does not occur.
func replacing(old, new string) func(*testing.T, string) string {
	return func(t *testing.T, yml string) string {
		t.Helper()
		if !strings.Contains(yml, old) {
			t.Fatalf("compose file has no %q to replace", old)
		}
		return strings.ReplaceAll(yml, old, new)
	}
}

// removingBlock returns a change of the compose text that deletes the first
// line equal to header (whose block contains every one of within) together
// with the more deeply indented lines after it.
func removingBlock(header string, within ...string) func(*testing.T, string) string {
	return func(t *testing.T, yml string) string {
		t.Helper()
		lines := strings.Split(yml, "\n")
		indent := len(header) - len(strings.TrimLeft(header, " "))
		for start := range lines {
			if lines[start] != header {
				continue
			}
			end := start + 1
			for end < len(lines) {
				l := lines[end]
				if strings.TrimSpace(l) != "" && len(l)-len(strings.TrimLeft(l, " ")) <= indent {
					break
				}
				end++
			}
			block := strings.Join(lines[start:end], "\n")
			if !slices.ContainsFunc(within, func(w string) bool { return !strings.Contains(block, w) }) {
				return strings.Join(slices.Delete(lines, start, end), "\n")
			}
		}
		t.Fatalf("compose file has no block %q containing %q", header, within)
		return ""
	}
}

// checkCompose loads a compose file offline (no docker engine, no .env, no
// host environment) and checks the stack against the producer: every
// PRODUCER_* variable is a flag's or a secret's and its value is accepted,
// the addresses the producer uses name services listening there, state lives
// in a named volume, healthchecks and published ports exist. It returns all
// problems found, joined.
func checkCompose(ctx context.Context, file, projectDir string) error {
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithName("assetjoblog-compose-check"),
		cli.WithWorkingDirectory(projectDir),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return fmt.Errorf("compose options: %w", err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return fmt.Errorf("load %s: %w", file, err)
	}
	dir, err := filepath.Abs(projectDir)
	if err != nil {
		return err
	}
	c := &composeChecker{p: p, dockerfile: filepath.Join(dir, "Dockerfile")}
	c.checkServices()
	c.checkImages()
	c.checkDependencies()
	c.checkProducer()
	return errors.Join(c.problems...)
}

// composeChecker collects the problems of one loaded project.
type composeChecker struct {
	p          *types.Project
	dockerfile string // the repository's Dockerfile, which producer and ips-sim build from
	problems   []error
}

func (c *composeChecker) errorf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Errorf(format, args...))
}

// service returns the named service; a missing one is reported once, by
// checkServices.
func (c *composeChecker) service(name string) (types.ServiceConfig, bool) {
	s, ok := c.p.Services[name]
	return s, ok
}

func (c *composeChecker) checkServices() {
	for _, name := range []string{"kafka", "kafka-init", "schema-registry", "ips-sim", "producer"} {
		if _, ok := c.service(name); !ok {
			c.errorf("service %q is missing", name)
		}
	}
	for _, name := range []string{"kafka", "schema-registry", "ips-sim"} {
		if s, ok := c.service(name); ok && !hasHealthcheck(s) {
			c.errorf("%s has no healthcheck", name)
		}
	}
}

func hasHealthcheck(s types.ServiceConfig) bool {
	return s.HealthCheck != nil && !s.HealthCheck.Disable && len(s.HealthCheck.Test) > 0 && s.HealthCheck.Test[0] != "NONE"
}

// checkImages wants producer and ips-sim built from the repository's
// Dockerfile, using only binaries it puts in the image, and every pulled
// image pinned to a tag other than latest.
func (c *composeChecker) checkImages() {
	binaries, err := dockerfileBinaries(c.dockerfile)
	if err != nil {
		c.errorf("%v", err)
	}
	for _, name := range sortedKeys(c.p.Services) {
		s := c.p.Services[name]
		if s.Build == nil {
			if err := checkImageTag(s.Image); err != nil {
				c.errorf("%s: %v", name, err)
			}
			continue
		}
		df := s.Build.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		if !filepath.IsAbs(df) {
			df = filepath.Join(s.Build.Context, df)
		}
		if filepath.Clean(df) != c.dockerfile {
			c.errorf("%s: builds from %s, want the repository's %s", name, df, c.dockerfile)
		}
		if binaries == nil {
			continue
		}
		if len(s.Entrypoint) > 0 && !binaries[s.Entrypoint[0]] {
			c.errorf("%s: entrypoint %q is not a binary the Dockerfile copies into the image (%s)", name, s.Entrypoint[0], strings.Join(sortedKeys(binaries), ", "))
		}
		if hc := s.HealthCheck; hc != nil && len(hc.Test) > 1 && hc.Test[0] == "CMD" && !binaries[hc.Test[1]] {
			c.errorf("%s: healthcheck runs %q, which is not a binary the Dockerfile copies into the image (%s)", name, hc.Test[1], strings.Join(sortedKeys(binaries), ", "))
		}
	}
	if s, ok := c.service("producer"); ok && len(s.Entrypoint) > 0 && s.Entrypoint[0] != "/producer" {
		c.errorf("producer: entrypoint %q replaces the image's /producer", s.Entrypoint[0])
	}
	for _, name := range []string{"producer", "ips-sim"} {
		if s, ok := c.service(name); ok && s.Build == nil {
			c.errorf("%s: has no build section; it must build from %s", name, c.dockerfile)
		}
	}
}

// checkImageTag wants an explicit tag (or digest) other than latest.
func checkImageTag(image string) error {
	if image == "" {
		return errors.New("neither image nor build")
	}
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || i < strings.LastIndex(image, "/") {
		return fmt.Errorf("image %q has no explicit tag", image)
	}
	if image[i+1:] == "latest" {
		return fmt.Errorf("image %q is not pinned: use a version tag", image)
	}
	return nil
}

// dockerfileBinaries returns the absolute paths of the files the final
// stage copies from the build stage into /, e.g. /producer.
func dockerfileBinaries(dockerfile string) (map[string]bool, error) {
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		return nil, fmt.Errorf("read the Dockerfile: %w", err)
	}
	bins := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.EqualFold(f[0], "COPY") || !strings.HasPrefix(f[1], "--from=") || f[len(f)-1] != "/" {
			continue
		}
		for _, src := range f[2 : len(f)-1] {
			if !strings.HasPrefix(src, "--") {
				bins["/"+path.Base(src)] = true
			}
		}
	}
	if len(bins) == 0 {
		return nil, fmt.Errorf("%s copies no binary into /", dockerfile)
	}
	return bins, nil
}

// checkDependencies wants depends_on to name services, a service_healthy
// condition to wait on a service that has a healthcheck, and the producer to
// start after everything it talks to.
func (c *composeChecker) checkDependencies() {
	for _, name := range sortedKeys(c.p.Services) {
		for _, dep := range sortedKeys(c.p.Services[name].DependsOn) {
			d, ok := c.service(dep)
			switch {
			case !ok:
				c.errorf("%s: depends_on names %q, which is not a service", name, dep)
			case c.p.Services[name].DependsOn[dep].Condition == types.ServiceConditionHealthy && !hasHealthcheck(d):
				c.errorf("%s: waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
	}
	if _, ok := c.service("producer"); !ok {
		return
	}
	reached := map[string]bool{}
	var walk func(string)
	walk = func(name string) {
		for dep := range c.p.Services[name].DependsOn {
			if !reached[dep] {
				reached[dep] = true
				walk(dep)
			}
		}
	}
	walk("producer")
	for _, need := range []string{"kafka", "kafka-init", "schema-registry", "ips-sim"} {
		if _, exists := c.service(need); exists && !reached[need] {
			c.errorf("producer: does not depend (directly or not) on %s, so it may start before it", need)
		}
	}
}

// checkProducer checks the producer's environment against its flags, then
// the configuration that environment makes against the rest of the stack.
func (c *composeChecker) checkProducer() {
	svc, ok := c.service("producer")
	if !ok {
		return
	}
	if len(svc.Command) > 0 {
		c.errorf("producer: command %q sets flags; configure the producer through PRODUCER_* variables only", []string(svc.Command))
	}
	known := map[string]bool{}
	var fileFlags []string
	newFlagSet(&config{}, io.Discard).VisitAll(func(f *flag.Flag) {
		known[envName(f.Name)] = true
		if strings.HasSuffix(f.Name, "-file") {
			fileFlags = append(fileFlags, envName(f.Name))
		}
	})
	for _, s := range secretEnv {
		known[s] = true
	}
	env := map[string]string{}
	for _, k := range sortedKeys(svc.Environment) {
		if !strings.HasPrefix(k, envPrefix) {
			continue
		}
		if !known[k] {
			c.errorf("producer: %s is neither the variable of a flag nor a secret variable%s", k, didYouMean(k, known))
			continue
		}
		if v := svc.Environment[k]; v != nil {
			env[k] = *v
		}
	}

	// Files the -*-file flags name are read inside the container: check the
	// host files the bind mounts provide instead.
	filesOK := true
	for _, k := range fileFlags {
		p, set := env[k]
		if !set || p == "" {
			continue
		}
		host, ok := bindSource(svc, p)
		if !ok {
			c.errorf("producer: %s: %s is in no bind mount of the producer, so the container cannot read it", k, p)
			filesOK = false
			continue
		}
		if fi, err := os.Stat(host); err != nil || !fi.Mode().IsRegular() {
			c.errorf("producer: %s: %s is mounted from %s, which is not a file", k, p, host)
			filesOK = false
			continue
		}
		env[k] = host
	}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		c.errorf("producer: %v", err)
		return
	}
	if filesOK {
		if err := cfg.loadSecrets(); err != nil {
			c.errorf("producer: %v", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		c.errorf("producer: the configuration does not validate: %v", err)
	}
	if cfg.Demo {
		c.errorf("producer: PRODUCER_DEMO runs an in-process simulator and broker instead of the stack's")
	}
	if filesOK && !cfg.Discover {
		assets, err := cfg.assetList()
		switch {
		case err != nil:
			c.errorf("producer: %v", err)
		case len(assets) == 0:
			c.errorf("producer: PRODUCER_ASSETS and PRODUCER_ASSETS_FILE name no asset")
		default:
			c.checkCatalog(assets)
		}
	}
	c.checkState(svc, cfg)
	c.checkIPS(cfg)
	c.checkBrokers(cfg)
	c.checkRegistry(cfg)
	c.checkMetrics(svc, cfg)
	c.checkTopic(cfg)
}

// bindSource maps a path inside the service's container to the host path a
// bind mount provides it from.
func bindSource(s types.ServiceConfig, p string) (string, bool) {
	p = path.Clean(p)
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		t := path.Clean(v.Target)
		if p == t {
			return v.Source, true
		}
		if rel, ok := strings.CutPrefix(p, t+"/"); ok {
			return filepath.Join(v.Source, filepath.FromSlash(rel)), true
		}
	}
	return "", false
}

// checkState wants two replicas keeping their checkpoints in a compacted
// state topic that a one-shot service creates with the data topic's
// partition count, or else the checkpoint file in a named volume, so it
// outlives the container.
func (c *composeChecker) checkState(svc types.ServiceConfig, cfg *config) {
	if n := svc.GetScale(); n != 2 {
		c.errorf("producer: %d replica%s, want 2 (deploy.replicas) sharing the assets", n, map[bool]string{true: "s"}[n != 1])
	}
	if cfg.StateTopic == "" {
		if n := svc.GetScale(); n > 1 {
			c.errorf("producer: %d replicas would each keep a checkpoint file of their own and publish every entry; set PRODUCER_STATE_TOPIC", n)
		}
		c.checkStateFile(svc, cfg)
		return
	}
	if cfg.CreateTopic {
		return
	}
	dataPartitions := ""
	found := false
	type creator struct{ service, partitions string }
	var creators []creator
	for _, name := range sortedKeys(c.p.Services) {
		args := append(slices.Clone([]string(c.p.Services[name].Entrypoint)), c.p.Services[name].Command...)
		topic, partitions := argAfter(args, "--topic"), argAfter(args, "--partitions")
		if topic == cfg.Topic {
			dataPartitions = partitions
		}
		if topic != cfg.StateTopic {
			continue
		}
		found = true
		if !slices.Contains(args, "cleanup.policy=compact") {
			c.errorf("%s creates %s without --config cleanup.policy=compact; the producer refuses a state topic that is not compacted", name, topic)
		}
		creators = append(creators, creator{name, partitions})
		if _, ok := svc.DependsOn[name]; !ok {
			c.errorf("producer: does not depend on %s, which creates the state topic", name)
		}
	}
	if !found {
		c.errorf("producer: no service creates the state topic %q (and PRODUCER_CREATE_TOPIC is not set)", cfg.StateTopic)
	}
	for _, cr := range creators {
		if dataPartitions != "" && cr.partitions != dataPartitions {
			c.errorf("%s creates %s with %s partitions, but the data topic has %s; the producer refuses it",
				cr.service, cfg.StateTopic, cr.partitions, dataPartitions)
		}
	}
}

// argAfter returns the argument after flag in args, or "".
func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// checkStateFile wants the checkpoint file in a named volume.
func (c *composeChecker) checkStateFile(svc types.ServiceConfig, cfg *config) {
	if !path.IsAbs(cfg.State) {
		c.errorf("producer: PRODUCER_STATE %q is not an absolute path", cfg.State)
		return
	}
	dir := path.Dir(cfg.State)
	for _, v := range svc.Volumes {
		if path.Clean(v.Target) != dir {
			continue
		}
		if v.Type != types.VolumeTypeVolume {
			c.errorf("producer: %s, the directory of PRODUCER_STATE, is a %s mount, want a named volume", dir, v.Type)
		} else if _, ok := c.p.Volumes[v.Source]; !ok {
			c.errorf("producer: volume %q mounted at %s is not declared under volumes", v.Source, dir)
		}
		return
	}
	c.errorf("producer: no named volume is mounted at %s, the directory of PRODUCER_STATE; the checkpoint would be lost with the container", dir)
}

// simFlag returns the value of ips-sim's flag name, or def.
func (c *composeChecker) simFlag(name, def string) string {
	s, ok := c.service("ips-sim")
	if !ok {
		return def
	}
	args := append(slices.Clone([]string(s.Entrypoint)), s.Command...)
	for i, a := range args {
		a = strings.TrimPrefix(a, "-")
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if (a == name || a == "-"+name) && i+1 < len(args) {
			return args[i+1]
		}
	}
	return def
}

// checkIPS wants PRODUCER_IPS_URL to reach ips-sim's SOAP path with the
// company and credentials ips-sim serves.
func (c *composeChecker) checkIPS(cfg *config) {
	if cfg.IPSURL == "" {
		c.errorf("producer: PRODUCER_IPS_URL is unset; the stack's IPS is ips-sim")
		return
	}
	u, err := url.Parse(cfg.IPSURL)
	if err != nil {
		c.errorf("producer: PRODUCER_IPS_URL: %v", err)
		return
	}
	if u.Scheme != "http" {
		c.errorf("producer: PRODUCER_IPS_URL %s: ips-sim serves plain http", cfg.IPSURL)
	}
	if u.Path != ipstest.Path {
		c.errorf("producer: PRODUCER_IPS_URL path %q, want ips-sim's %q", u.Path, ipstest.Path)
	}
	var listens []string
	if _, ok := c.service("ips-sim"); ok {
		addr := c.simFlag("addr", "127.0.0.1:8089")
		host, port, err := net.SplitHostPort(addr)
		switch {
		case err != nil:
			c.errorf("ips-sim: -addr %q: %v", addr, err)
		case host == "127.0.0.1" || host == "localhost" || host == "::1":
			c.errorf("ips-sim listens on %s, loopback only: other containers cannot reach it (use 0.0.0.0)", addr)
		}
		listens = []string{port}
	}
	c.checkAddress("PRODUCER_IPS_URL", "ips-sim", u.Hostname(), portOf(u), listens)

	if _, ok := c.service("ips-sim"); !ok {
		return
	}
	if want := c.simFlag("company", "c|6"); cfg.Company != want {
		c.errorf("producer: PRODUCER_COMPANY is %q but ips-sim serves company %q", cfg.Company, want)
	}
	if want := c.simFlag("user", "api@example.com"); cfg.IPSUser != want {
		c.errorf("producer: PRODUCER_IPS_USER is %q but ips-sim accepts user %q", cfg.IPSUser, want)
	}
	sim := c.p.Services["ips-sim"]
	password := "secret" // ips-sim's default
	if v := sim.Environment["IPS_SIM_PASSWORD"]; v != nil && *v != "" {
		password = *v
	}
	password = c.simFlag("password", password)
	if cfg.ipsPassword != password {
		// Neither value goes into the message.
		c.errorf("producer: PRODUCER_IPS_PASSWORD is not the password ips-sim accepts (IPS_SIM_PASSWORD)")
	}
}

// checkCatalog wants every asset the producer polls to exist in ips-sim's
// synthetic catalog (handles prefix+i for i below -assets).
func (c *composeChecker) checkCatalog(assets []string) {
	if _, ok := c.service("ips-sim"); !ok {
		return
	}
	company := c.simFlag("company", "c|6")
	prefix := c.simFlag("asset-prefix", "a|"+company[strings.LastIndex(company, "|")+1:]+"|1|")
	n, err := strconv.Atoi(c.simFlag("assets", "10"))
	if err != nil {
		c.errorf("ips-sim: -assets: %v", err)
		return
	}
	for _, a := range assets {
		s, ok := strings.CutPrefix(a, prefix)
		i, err := strconv.Atoi(s)
		if !ok || err != nil || i < 0 || i >= n || strconv.Itoa(i) != s {
			c.errorf("producer: asset %q is not in ips-sim's catalog (%s0 to %s%d)", a, prefix, prefix, n-1)
		}
	}
}

// checkAddress wants host to be the service want and port one it listens on.
func (c *composeChecker) checkAddress(variable, want, host, port string, listens []string) {
	if _, ok := c.service(host); !ok {
		c.errorf("producer: %s names host %q, which is not a service of the stack (want %s)", variable, host, want)
		return
	}
	if host != want {
		c.errorf("producer: %s names service %q, want %q", variable, host, want)
		return
	}
	if len(listens) > 0 && !slices.Contains(listens, port) {
		c.errorf("producer: %s uses port %s of %s, which listens on %s", variable, port, host, strings.Join(listens, ", "))
	}
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// kafkaListeners parses KAFKA_LISTENERS or KAFKA_ADVERTISED_LISTENERS
// ("NAME://host:port,...") into listener name -> host:port.
func kafkaListeners(s types.ServiceConfig, variable string) map[string]string {
	out := map[string]string{}
	v := s.Environment[variable]
	if v == nil {
		return out
	}
	for _, l := range strings.Split(*v, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
		if ok {
			out[name] = addr
		}
	}
	return out
}

// checkBrokers wants every bootstrap broker to be an address the kafka
// service advertises on a listener it listens on: clients reconnect to the
// advertised address, so only a listener advertised under a service name
// works from another container. It also wants the host listener published.
func (c *composeChecker) checkBrokers(cfg *config) {
	kafka, ok := c.service("kafka")
	if !ok {
		return
	}
	listeners := kafkaListeners(kafka, "KAFKA_LISTENERS")
	advertised := kafkaListeners(kafka, "KAFKA_ADVERTISED_LISTENERS")
	var internal []string
	for _, name := range sortedKeys(advertised) {
		host, port, err := net.SplitHostPort(advertised[name])
		if err != nil {
			c.errorf("kafka: advertised listener %s: %v", name, err)
			continue
		}
		if _, lport, err := net.SplitHostPort(listeners[name]); err != nil || lport != port {
			c.errorf("kafka: listener %s is advertised as %s but listens on %q", name, advertised[name], listeners[name])
		}
		if _, isService := c.service(host); isService {
			internal = append(internal, advertised[name])
		}
	}
	for _, b := range splitList(cfg.Brokers) {
		host, _, err := net.SplitHostPort(b)
		if err != nil {
			c.errorf("producer: PRODUCER_BROKERS: %v", err)
			continue
		}
		if _, ok := c.service(host); !ok {
			c.errorf("producer: PRODUCER_BROKERS names host %q, which is not a service of the stack (inside a container localhost is the container itself)", host)
			continue
		}
		if !slices.Contains(internal, b) {
			c.errorf("producer: PRODUCER_BROKERS names %s, which is not a listener kafka advertises; advertised to containers: %s",
				b, strings.Join(internal, ", "))
		}
	}

	// The host listener: advertised as localhost:9092 and published there.
	published := false
	for name, addr := range advertised {
		if addr != "localhost:9092" && addr != "127.0.0.1:9092" {
			continue
		}
		_, lport, _ := net.SplitHostPort(listeners[name])
		for _, p := range kafka.Ports {
			if p.Published == "9092" && strconv.Itoa(int(p.Target)) == lport {
				published = true
			}
		}
	}
	if !published {
		c.errorf("kafka: no port publishes its host listener localhost:9092 (advertised %v, ports %v)", advertised, portList(kafka))
	}
}

// checkRegistry wants PRODUCER_SCHEMA_REGISTRY to reach schema-registry on
// a port of SCHEMA_REGISTRY_LISTENERS.
func (c *composeChecker) checkRegistry(cfg *config) {
	if cfg.SchemaRegistry == "" {
		c.errorf("producer: PRODUCER_SCHEMA_REGISTRY is unset, so the stack's schema-registry goes unused")
		return
	}
	u, err := url.Parse(cfg.SchemaRegistry)
	if err != nil {
		c.errorf("producer: PRODUCER_SCHEMA_REGISTRY: %v", err)
		return
	}
	var listens []string
	if reg, ok := c.service("schema-registry"); ok {
		listeners := "http://0.0.0.0:8081" // the image's default
		if v := reg.Environment["SCHEMA_REGISTRY_LISTENERS"]; v != nil {
			listeners = *v
		}
		for _, l := range strings.Split(listeners, ",") {
			if lu, err := url.Parse(strings.TrimSpace(l)); err == nil {
				listens = append(listens, portOf(lu))
			}
		}
	}
	c.checkAddress("PRODUCER_SCHEMA_REGISTRY", "schema-registry", u.Hostname(), portOf(u), listens)
}

// checkMetrics wants the metrics port reachable from the host and the
// producer's healthcheck, if any, asking that port.
func (c *composeChecker) checkMetrics(svc types.ServiceConfig, cfg *config) {
	if cfg.MetricsAddr == "" {
		c.errorf("producer: PRODUCER_METRICS_ADDR is unset: no /metrics, /healthz or /readyz")
		return
	}
	host, port, err := net.SplitHostPort(cfg.MetricsAddr)
	if err != nil {
		c.errorf("producer: PRODUCER_METRICS_ADDR: %v", err)
		return
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		c.errorf("producer: PRODUCER_METRICS_ADDR %s is not reachable from outside the container", cfg.MetricsAddr)
	}
	published := slices.ContainsFunc(svc.Ports, func(p types.ServicePortConfig) bool {
		return strconv.Itoa(int(p.Target)) == port && p.Published != ""
	})
	if !published {
		c.errorf("producer: the metrics port %s is not published (ports %v)", port, portList(svc))
	}
	if hc := svc.HealthCheck; hc != nil {
		for _, arg := range hc.Test {
			if u, err := url.Parse(arg); err == nil && u.Scheme == "http" && portOf(u) != port {
				c.errorf("producer: the healthcheck asks %s, not the metrics port %s", arg, port)
			}
		}
	}
}

// checkTopic wants the topic to be the one kafka-init creates, as the
// broker creates none by itself.
func (c *composeChecker) checkTopic(cfg *config) {
	init, ok := c.service("kafka-init")
	if !ok || cfg.CreateTopic {
		return
	}
	args := append(slices.Clone([]string(init.Entrypoint)), init.Command...)
	i := slices.Index(args, "--topic")
	if i < 0 || i+1 >= len(args) {
		c.errorf("kafka-init: creates no --topic")
		return
	}
	if args[i+1] != cfg.Topic {
		c.errorf("producer: PRODUCER_TOPIC is %q but kafka-init creates %q", cfg.Topic, args[i+1])
	}
}

func portList(s types.ServiceConfig) []string {
	var out []string
	for _, p := range s.Ports {
		out = append(out, fmt.Sprintf("%s->%d", p.Published, p.Target))
	}
	return out
}

// didYouMean suggests the known name closest to name, if one is close.
func didYouMean(name string, known map[string]bool) string {
	best, bestDist := "", 3
	for _, k := range sortedKeys(known) {
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// wantRejected fails the test unless err is an error whose text contains
// every string of want.
func wantRejected(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one naming %q", want)
	}
	t.Logf("rejected:\n%v", err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("got error:\n%v\nwant it to contain %q", err, w)
		}
	}
}
