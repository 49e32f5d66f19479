package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips"
)

// envPrefix starts the environment variable of every flag: -ips-url reads
// PRODUCER_IPS_URL. A flag given on the command line wins.
const envPrefix = "PRODUCER_"

// Secrets are read only from these variables or from the files the
// matching -*-file flags name, never from a flag value, so they do not show
// in process listings.
const (
	envIPSPassword      = "PRODUCER_IPS_PASSWORD"
	envIPSAccessToken   = "PRODUCER_IPS_ACCESS_TOKEN"
	envSASLPassword     = "PRODUCER_KAFKA_SASL_PASSWORD"
	envRegistryPassword = "PRODUCER_SCHEMA_REGISTRY_PASSWORD"
	envUserEmailKey     = "PRODUCER_USER_EMAIL_KEY"
)

// secretEnv lists the variables above, for -h.
var secretEnv = []string{envIPSPassword, envIPSAccessToken, envSASLPassword, envRegistryPassword, envUserEmailKey}

// config is everything the producer reads from flags and the environment.
type config struct {
	IPSURL                string
	IPSRegion             string
	IPSUser               string
	IPSPasswordFile       string
	IPSAPIVersion         string
	IPSLocale             string
	IPSTimeout            time.Duration
	IPSCAFile             string
	IPSInsecureSkipVerify bool
	IPSMaxResponseBytes   int64

	Company         string
	Assets          string
	AssetsFile      string
	Discover        bool
	Since           time.Duration
	DiscoverOverlap time.Duration
	DiscoverRows    int

	AllAssets         bool
	Backfill          bool
	CatalogRefresh    time.Duration
	CatalogFolder     string
	CatalogAssetTypes string
	CatalogTrashState string

	Brokers               string
	Topic                 string
	DeadLetterTopic       string
	CreateTopic           bool
	Compression           string
	KafkaTLS              bool
	KafkaCAFile           string
	KafkaInsecureSkip     bool
	KafkaSASLMechanism    string
	KafkaSASLUser         string
	KafkaSASLPasswordFile string
	KafkaWriteTimeout     time.Duration
	AdoptTopic            bool

	SchemaRegistry             string
	SchemaRegistryUser         string
	SchemaRegistryPasswordFile string
	SubjectStrategy            string

	UserEmail        string
	UserEmailKeyFile string

	State           string
	ResetState      bool
	StateTopic      string
	Group           string
	GroupSession    time.Duration
	MigrateState    bool
	PollInterval    time.Duration
	Once            bool
	Demo            bool
	MetricsAddr     string
	Concurrency     int
	RequestRate     float64
	LateWindow      time.Duration
	ShutdownTimeout time.Duration
	IPSRetryMax     time.Duration
	KafkaRetryMax   time.Duration
	LogLevel        string
	LogFormat       string
	Progress        string

	// Secrets, from the environment or files only.
	ipsPassword      string
	ipsAccessToken   string
	saslPassword     string
	registryPassword string
	userEmailKey     []byte
}

// newFlagSet binds every flag of c. The usage text of each flag states its
// default and its environment variable.
func newFlagSet(c *config, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(stderr)

	fs.StringVar(&c.IPSURL, "ips-url", "", "IPS SOAP endpoint URL, e.g. https://s7sps1apissl.scene7.com/scene7/services/IpsApiService (or use -ips-region)")
	fs.StringVar(&c.IPSRegion, "ips-region", "", "IPS endpoint preset instead of -ips-url: na, emea, apac, na-staging, emea-staging, apac-staging")
	fs.StringVar(&c.IPSUser, "ips-user", "", "IPS user e-mail; the password comes from "+envIPSPassword+" or -ips-password-file")
	fs.StringVar(&c.IPSPasswordFile, "ips-password-file", "", "file holding the IPS password (alternative to "+envIPSPassword+")")
	fs.StringVar(&c.IPSAPIVersion, "ips-api-version", "2014-04-03", "IPS API version of the request namespace")
	fs.StringVar(&c.IPSLocale, "ips-locale", "en-US", "locale IPS localises logMessage in; keep it fixed: it is part of the eventId")
	fs.DurationVar(&c.IPSTimeout, "ips-timeout", 2*time.Minute, "timeout of one IPS call")
	fs.StringVar(&c.IPSCAFile, "ips-ca-file", "", "PEM file of CA certificates trusted for IPS TLS (default: the system roots)")
	fs.BoolVar(&c.IPSInsecureSkipVerify, "ips-insecure-skip-verify", false, "do not verify the IPS TLS certificate (testing only; logs a warning)")
	fs.Int64Var(&c.IPSMaxResponseBytes, "ips-max-response-bytes", 64<<20, "largest IPS response body accepted, after gzip decoding")

	fs.StringVar(&c.Company, "company", "", "IPS company handle, e.g. c|6 (required)")
	fs.StringVar(&c.Assets, "assets", "", "comma-separated asset handles to poll")
	fs.StringVar(&c.AssetsFile, "assets-file", "", "file with one asset handle per line (# comments allowed)")
	fs.BoolVar(&c.Discover, "discover", false, "discovery mode: poll only the assets that the company's recent jobs touched (no asset list)")
	fs.DurationVar(&c.Since, "since", 24*time.Hour, "discovery mode: how far back the first round looks")
	fs.DurationVar(&c.DiscoverOverlap, "discover-overlap", 15*time.Minute, "discovery mode: how far before the cursor each round looks again for late jobs")
	fs.BoolVar(&c.AllAssets, "all-assets", false, "assets mode over every asset searchAssets lists (see -catalog-*); exclusive with -assets, -assets-file and -discover")
	fs.BoolVar(&c.Backfill, "backfill", false, "with -discover: first publish the whole log of every asset searchAssets lists (see -catalog-*), once and resumably, then follow activity from the backfill's start")
	fs.DurationVar(&c.CatalogRefresh, "catalog-refresh", 0, "-all-assets: reuse a catalog listing for this long (0: list it again every round)")
	fs.StringVar(&c.CatalogFolder, "catalog-folder", "", "-all-assets and -backfill: only assets under this folder path, subfolders included (empty: the company root)")
	fs.StringVar(&c.CatalogAssetTypes, "catalog-asset-types", "", "-all-assets and -backfill: comma-separated asset types to list, e.g. Image,Video (empty: all)")
	fs.StringVar(&c.CatalogTrashState, "catalog-trash-state", "NotInTrash", "-all-assets and -backfill: NotInTrash, InTrash or Any")
	fs.IntVar(&c.DiscoverRows, "discover-rows", 500, "discovery mode: getJobLogs numRows; a window returning this many jobs is split and asked again")

	fs.StringVar(&c.Brokers, "brokers", "localhost:9092", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&c.Topic, "topic", "ips.asset-job-logs", "Kafka topic")
	fs.BoolVar(&c.CreateTopic, "create-topic", false, "create the topic when it does not exist (otherwise a missing topic stops the producer)")
	fs.StringVar(&c.DeadLetterTopic, "dead-letter-topic", "", "topic receiving, once each and as JSON, the entries that cannot be published (malformed, or too large for -topic); empty: each is logged once at error level instead")
	fs.StringVar(&c.Compression, "compression", "none", "record compression: none, gzip, snappy, lz4, zstd")
	fs.BoolVar(&c.KafkaTLS, "kafka-tls", false, "connect to Kafka over TLS")
	fs.StringVar(&c.KafkaCAFile, "kafka-ca-file", "", "PEM file of CA certificates trusted for Kafka TLS")
	fs.BoolVar(&c.KafkaInsecureSkip, "kafka-insecure-skip-verify", false, "do not verify the Kafka TLS certificate (testing only)")
	fs.StringVar(&c.KafkaSASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (empty: none); password from "+envSASLPassword+" or -kafka-sasl-password-file")
	fs.StringVar(&c.KafkaSASLUser, "kafka-sasl-user", "", "SASL user name")
	fs.StringVar(&c.KafkaSASLPasswordFile, "kafka-sasl-password-file", "", "file holding the SASL password")
	fs.DurationVar(&c.KafkaWriteTimeout, "kafka-write-timeout", 10*time.Second, "timeout of one produce request, acknowledgements included; a write that times out is read back before it is sent again")
	fs.BoolVar(&c.AdoptTopic, "adopt-topic", false, "the state was built against another topic (renamed, re-created, another cluster) that this one already mirrors: bind the state to this topic and carry on from its checkpoints")

	fs.StringVar(&c.SchemaRegistry, "schema-registry", "", "Schema Registry URL; when set records use the Confluent wire format, otherwise Avro single-object encoding")
	fs.StringVar(&c.SchemaRegistryUser, "schema-registry-user", "", "Schema Registry basic-auth user; password from "+envRegistryPassword+" or -schema-registry-password-file")
	fs.StringVar(&c.SchemaRegistryPasswordFile, "schema-registry-password-file", "", "file holding the Schema Registry password")
	fs.StringVar(&c.SubjectStrategy, "subject-strategy", "topic", "Schema Registry subject: topic (<topic>-value), record, topic-record")

	fs.StringVar(&c.UserEmail, "user-email", "keep", "submitUserEmail handling: keep, hash (HMAC-SHA-256 keyed by "+envUserEmailKey+" or -user-email-key-file), drop")
	fs.StringVar(&c.UserEmailKeyFile, "user-email-key-file", "", "file holding the HMAC key for -user-email hash")

	fs.StringVar(&c.State, "state", "assetjoblog.state", "checkpoint file (bbolt)")
	fs.StringVar(&c.StateTopic, "state-topic", "", "compacted Kafka topic holding every checkpoint instead of the -state file; replicas share the assets through -group on it")
	fs.StringVar(&c.Group, "group", "", "with -state-topic: consumer group the replicas join on the state topic (default assetjoblog.<topic>)")
	fs.DurationVar(&c.GroupSession, "group-session-timeout", 10*time.Second, "with -state-topic: how long a silent replica keeps its assets before the others take them over")
	fs.BoolVar(&c.MigrateState, "migrate-state-to-topic", false, "copy every checkpoint of the -state file into the empty -state-topic, then exit (once, when moving from the file to the topic)")
	fs.BoolVar(&c.ResetState, "reset-state", false, "move an unreadable checkpoint file, or one built against another topic, aside and start from scratch (re-publishes everything)")
	fs.DurationVar(&c.PollInterval, "poll-interval", time.Minute, "pause between the starts of two poll rounds")
	fs.BoolVar(&c.Once, "once", false, "run one round, publish, commit and exit")
	fs.BoolVar(&c.Demo, "demo", false, "run against an in-process IPS simulator and embedded Kafka broker and print the records")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "address serving /metrics, /healthz and /readyz, e.g. :9090 (empty: off)")
	fs.IntVar(&c.Concurrency, "concurrency", 8, "IPS calls in flight at once (publishing and committing overlap the next fetches)")
	fs.Float64Var(&c.RequestRate, "request-rate", 0, "ceiling on IPS calls per second (0: none)")
	fs.DurationVar(&c.LateWindow, "late-window", time.Hour, "entries dated up to this long before an asset's newest published entry are still recognised as new")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long started assets may take to finish")
	fs.DurationVar(&c.IPSRetryMax, "ips-retry-max", 5*time.Minute, "give up retrying one IPS call after this long (the asset is retried next round)")
	fs.DurationVar(&c.KafkaRetryMax, "kafka-retry-max", 0, "give up retrying a publish after this long (0: keep retrying until shutdown)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text, json")
	fs.StringVar(&c.Progress, "progress", "auto", "progress bar of a -once run: auto (on a terminal), on, off")

	fs.Usage = func() { usage(fs) }
	return fs
}

// envName is the environment variable read for a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: producer [flags]\n\nPolls Scene7 IPS asset job logs and publishes each new entry to Kafka as an Avro record.\n"+
		"Every flag can also be set by the environment variable shown; a flag given on the command line wins.\n\n")
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  -%s\n    \t%s\n    \t(default %s; env %s)\n", f.Name, f.Usage, def, envName(f.Name))
	})
	fmt.Fprintf(w, "\nSecrets are read only from the environment or from files, never from flags:\n")
	for _, e := range secretEnv {
		fmt.Fprintf(w, "  %s\n", e)
	}
}

// parseConfig reads flags, then the environment for flags not given.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := newFlagSet(c, stderr)
	// Parse errors are reported as one line by the caller; only -h prints the usage.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			usage(fs)
			return nil, err
		}
		return nil, &usageError{err}
	}
	fs.SetOutput(stderr)
	if fs.NArg() > 0 {
		return nil, &usageError{fmt.Errorf("unexpected argument %q (flags start with -)", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: %w", name, err))
			}
		}
	})
	if len(errs) > 0 {
		return nil, &usageError{errs[0]}
	}
	c.ipsPassword = getenv(envIPSPassword)
	c.ipsAccessToken = getenv(envIPSAccessToken)
	c.saslPassword = getenv(envSASLPassword)
	c.registryPassword = getenv(envRegistryPassword)
	c.userEmailKey = []byte(getenv(envUserEmailKey))
	return c, nil
}

// loadSecrets reads the secret files the flags name; a file wins over the
// environment.
func (c *config) loadSecrets() error {
	for _, s := range []struct {
		flag, path string
		dst        *string
	}{
		{"ips-password-file", c.IPSPasswordFile, &c.ipsPassword},
		{"kafka-sasl-password-file", c.KafkaSASLPasswordFile, &c.saslPassword},
		{"schema-registry-password-file", c.SchemaRegistryPasswordFile, &c.registryPassword},
	} {
		if s.path == "" {
			continue
		}
		b, err := os.ReadFile(s.path)
		if err != nil {
			return fmt.Errorf("-%s: %w", s.flag, err)
		}
		*s.dst = strings.TrimRight(string(b), "\r\n")
	}
	if c.UserEmailKeyFile != "" {
		b, err := os.ReadFile(c.UserEmailKeyFile)
		if err != nil {
			return fmt.Errorf("-user-email-key-file: %w", err)
		}
		c.userEmailKey = []byte(strings.TrimRight(string(b), "\r\n"))
	}
	return nil
}

// assetList returns the assets of -assets and -assets-file, in order, without duplicates.
func (c *config) assetList() ([]string, error) {
	var raw []string
	if c.Assets != "" {
		raw = append(raw, strings.Split(c.Assets, ",")...)
	}
	if c.AssetsFile != "" {
		b, err := os.ReadFile(c.AssetsFile)
		if err != nil {
			return nil, fmt.Errorf("-assets-file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			raw = append(raw, line)
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range raw {
		a = strings.TrimSpace(a)
		if a == "" || seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, a)
	}
	return out, nil
}

// Validate checks the configuration of a real (non-demo) run before any
// network call, naming the first bad flag.
func (c *config) Validate() error {
	oneOf := func(flag, v string, allowed ...string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		sort.Strings(allowed)
		return fmt.Errorf("-%s: %q is not one of %s", flag, v, strings.Join(allowed, ", "))
	}
	if err := oneOf("compression", c.Compression, "none", "gzip", "snappy", "lz4", "zstd"); err != nil {
		return err
	}
	if err := oneOf("subject-strategy", c.SubjectStrategy, "topic", "record", "topic-record"); err != nil {
		return err
	}
	if err := oneOf("user-email", c.UserEmail, "keep", "hash", "drop"); err != nil {
		return err
	}
	if err := oneOf("log-level", strings.ToLower(c.LogLevel), "debug", "info", "warn", "error"); err != nil {
		return err
	}
	if err := oneOf("log-format", c.LogFormat, "auto", "text", "json"); err != nil {
		return err
	}
	if err := oneOf("progress", c.Progress, "auto", "on", "off"); err != nil {
		return err
	}
	if err := oneOf("catalog-trash-state", c.CatalogTrashState, "NotInTrash", "InTrash", "Any"); err != nil {
		return err
	}
	if err := oneOf("kafka-sasl-mechanism", c.KafkaSASLMechanism, "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"); err != nil {
		return err
	}
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("-concurrency: must be at least 1, got %d", c.Concurrency)
	case c.RequestRate < 0:
		return fmt.Errorf("-request-rate: must not be negative, got %g", c.RequestRate)
	case c.PollInterval <= 0:
		return fmt.Errorf("-poll-interval: must be positive, got %s", c.PollInterval)
	case c.DiscoverRows < 1:
		return fmt.Errorf("-discover-rows: must be at least 1, got %d", c.DiscoverRows)
	case c.CatalogRefresh < 0:
		return fmt.Errorf("-catalog-refresh: must not be negative, got %s", c.CatalogRefresh)
	case c.Backfill && !c.Discover:
		return errors.New("-backfill works with -discover (-all-assets polls the whole catalog every round instead)")
	case c.Since <= 0:
		return fmt.Errorf("-since: must be positive, got %s", c.Since)
	case c.IPSMaxResponseBytes <= 0:
		return fmt.Errorf("-ips-max-response-bytes: must be positive, got %d", c.IPSMaxResponseBytes)
	case c.KafkaWriteTimeout <= 0:
		return fmt.Errorf("-kafka-write-timeout: must be positive, got %s", c.KafkaWriteTimeout)
	case c.AdoptTopic && c.ResetState:
		return errors.New("-adopt-topic and -reset-state are exclusive: carry on from the state, or start over")
	case c.Demo:
		return nil
	case c.IPSURL == "" && c.IPSRegion == "":
		return errors.New("-ips-url or -ips-region is required")
	case c.IPSURL != "" && c.IPSRegion != "":
		return errors.New("-ips-url and -ips-region are exclusive")
	case c.IPSUser == "" && c.ipsAccessToken == "":
		return errors.New("-ips-user is required")
	case c.ipsPassword == "" && c.ipsAccessToken == "":
		return fmt.Errorf("the IPS password is required: set %s or -ips-password-file", envIPSPassword)
	case c.Company == "":
		return errors.New("-company is required")
	case c.Discover && (c.Assets != "" || c.AssetsFile != ""):
		return errors.New("-discover polls the assets it finds: do not give -assets or -assets-file with it")
	case c.AllAssets && (c.Assets != "" || c.AssetsFile != "" || c.Discover):
		return errors.New("-all-assets polls every asset of the catalog: do not give -assets, -assets-file or -discover with it")
	case !c.Discover && !c.AllAssets && c.Assets == "" && c.AssetsFile == "":
		return errors.New("-assets or -assets-file is required (or -all-assets, or -discover)")
	case strings.TrimSpace(c.Brokers) == "":
		return errors.New("-brokers is required")
	case c.Topic == "":
		return errors.New("-topic is required")
	case c.DeadLetterTopic != "" && c.DeadLetterTopic == c.Topic:
		return errors.New("-dead-letter-topic must differ from -topic: dead letters are JSON, not entries")
	case c.State == "" && c.StateTopic == "":
		return errors.New("-state is required (or -state-topic)")
	case c.StateTopic != "" && (c.StateTopic == c.Topic || c.StateTopic == c.DeadLetterTopic):
		return fmt.Errorf("-state-topic: %q is the data or dead-letter topic; checkpoints need a compacted topic of their own", c.StateTopic)
	case c.MigrateState && c.StateTopic == "":
		return errors.New("-migrate-state-to-topic: -state-topic names the topic to copy the -state file into")
	case c.GroupSession < time.Second:
		return fmt.Errorf("-group-session-timeout: must be at least 1s, got %s", c.GroupSession)
	case c.KafkaSASLMechanism != "" && c.KafkaSASLUser == "":
		return errors.New("-kafka-sasl-user is required with -kafka-sasl-mechanism")
	case c.KafkaSASLMechanism != "" && c.saslPassword == "":
		return fmt.Errorf("the SASL password is required with -kafka-sasl-mechanism: set %s or -kafka-sasl-password-file", envSASLPassword)
	case c.UserEmail == "hash" && len(c.userEmailKey) == 0:
		return fmt.Errorf("-user-email hash needs a key: set %s or -user-email-key-file", envUserEmailKey)
	}
	return nil
}

// searchFilter is the catalog filter of -all-assets and -backfill.
func (c *config) searchFilter() ips.SearchFilter {
	return ips.SearchFilter{Folder: c.CatalogFolder, AssetTypes: splitList(c.CatalogAssetTypes), TrashState: c.CatalogTrashState}
}

// group returns the consumer group the replicas join on the state topic.
func (c *config) group() string {
	if c.Group != "" {
		return c.Group
	}
	return "assetjoblog." + c.Topic
}
