package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// run is the whole program: it parses the configuration, wires the parts
// and polls until ctx is cancelled (or one round with -once). Tests call it
// in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if err := cfg.loadSecrets(); err != nil {
		return &usageError{err}
	}
	if err := cfg.Validate(); err != nil {
		return &usageError{err}
	}
	logger := newLogger(cfg, stderr)

	var demo *demoEnv
	if cfg.Demo {
		demo, err = startDemo(ctx, cfg, logger)
		if err != nil {
			return fmt.Errorf("start demo: %w", err)
		}
		defer demo.Close()
	}

	reg := prometheus.NewRegistry()
	metrics := pipeline.NewMetrics(reg)

	var store checkpoints
	var fileStore *boltstore.Store
	if cfg.StateTopic == "" {
		if fileStore, err = openState(cfg, logger); err != nil {
			return err
		}
		defer func() { fileStore.Close() }()
	}

	client, err := newIPSClient(cfg, logger, metrics)
	if err != nil {
		return err
	}
	encoder, err := newEncoder(ctx, cfg, logger)
	if err != nil {
		return err
	}
	sink, err := newSink(ctx, cfg, cfg.Topic)
	if err != nil {
		return err
	}
	defer sink.Close()
	limit := sink.RecordLimit()
	logger.Info("largest record the topic accepts", "topic", cfg.Topic, "max_message_bytes", limit.MaxMessageBytes,
		"from", limit.Source, "max_record_bytes", limit.MaxRecordBytes)
	var deadLetters pipeline.Sink
	if cfg.DeadLetterTopic != "" {
		dlq, err := newSink(ctx, cfg, cfg.DeadLetterTopic)
		if err != nil {
			return fmt.Errorf("dead-letter topic: %w", err)
		}
		defer dlq.Close()
		deadLetters = dlq
	}
	topic, err := checkTopic(ctx, sink, logger)
	if err != nil {
		return err
	}
	if fileStore != nil {
		if fileStore, err = bindState(ctx, cfg, logger, fileStore, sink, topic.Identity); err != nil {
			return err
		}
		store = fileStore
	}

	// With -state-topic the checkpoints live in the state topic (which needs
	// the data topic, so it comes after the sink) and the replicas share the
	// assets through the group on it.
	var group *kafka.Group
	var partitionOf func(asset string) int
	if cfg.StateTopic != "" {
		topicStore, err := kafka.OpenStateStore(ctx, kafka.StateStoreConfig{
			Kafka: kafkaConfig(cfg, cfg.Topic), Topic: cfg.StateTopic, Group: cfg.group(), Company: cfg.Company,
		})
		if err != nil {
			return err
		}
		partitionOf = topicStore.PartitionOf
		defer topicStore.Close()
		if cfg.MigrateState {
			return migrateState(ctx, cfg, topicStore, logger)
		}
		cps := pipeline.NewCheckpoints(topicStore)
		if err := bindStateTopic(ctx, cfg, logger, cps, sink, topic.Identity); err != nil {
			return err
		}
		store = cps
		group, err = kafka.NewGroup(kafka.GroupConfig{
			Kafka: kafkaConfig(cfg, cfg.Topic), ID: cfg.group(), Store: topicStore, Company: cfg.Company,
			SessionTimeout: cfg.GroupSession, Metrics: metrics, Logger: logger,
		})
		if err != nil {
			return err
		}
	}

	pcfg := pipeline.Config{
		CompanyHandle: cfg.Company,
		Source:        client,
		Encoder:       encoder,
		Sink:          sink,
		DeadLetters:   deadLetters,
		Checkpoints:   store,
		Reconcile: &pipeline.ReconcileConfig{
			Reader: sink, Partitioner: sink, Bounds: store,
			// The broker answers a produce request within its timeout,
			// which is the write timeout: waiting twice as long after an
			// unknown outcome lets a request it had queued or was still
			// handling finish before the partition is read back.
			Settle: 2 * cfg.KafkaWriteTimeout,
		},
		Concurrency:     cfg.Concurrency,
		RequestRate:     cfg.RequestRate,
		PollInterval:    cfg.PollInterval,
		LateWindow:      cfg.LateWindow,
		ShutdownTimeout: cfg.ShutdownTimeout,
		SourceRetry: pipeline.RetryPolicy{
			Retryable: ips.IsRetryable, Delay: ips.RetryAfter, MaxElapsed: cfg.IPSRetryMax,
		},
		SinkRetry: pipeline.RetryPolicy{
			Retryable: kafka.IsRetryable, MaxElapsed: orForever(cfg.KafkaRetryMax),
		},
		Fatal:   fatal,
		Logger:  logger,
		Metrics: metrics,
	}
	if cfg.AllAssets || cfg.Backfill {
		pcfg.Catalog = &ips.Catalog{Client: client, Filter: cfg.searchFilter()}
		pcfg.CatalogRefresh = cfg.CatalogRefresh
	}
	switch {
	case cfg.AllAssets:
		pcfg.AllAssets = true
	case cfg.Discover:
		pcfg.Discovery = &pipeline.DiscoveryConfig{
			Jobs: client, Checkpoints: store, Since: cfg.Since, Overlap: cfg.DiscoverOverlap, NumRows: cfg.DiscoverRows,
		}
		if group != nil {
			// Each replica discovers for itself, from the cursors of the
			// partitions it owns, and polls only its own touched assets.
			pcfg.Discovery.Checkpoints = group.DiscoveryCheckpoints(store.(*pipeline.Checkpoints))
		}
		if cfg.Backfill {
			pcfg.Discovery.Backfill = store
			if group != nil {
				// Each replica backfills the partitions it owns, and keeps
				// the progress per partition, so that a partition that
				// moves is resumed by its new owner.
				pcfg.Discovery.BackfillParts = func() []string {
					var parts []string
					for _, p := range group.OwnedPartitions() {
						parts = append(parts, kafka.DiscoveryPart(p))
					}
					return parts
				}
				pcfg.Discovery.BackfillPart = func(asset string) string { return kafka.DiscoveryPart(partitionOf(asset)) }
			}
		}
	default:
		if pcfg.Assets, err = cfg.assetList(); err != nil {
			return &usageError{err}
		}
		if len(pcfg.Assets) == 0 {
			return &usageError{errors.New("-assets and -assets-file name no asset")}
		}
	}
	var bar *progress
	if cfg.Once && wantProgress(cfg, stderr) {
		total := len(pcfg.Assets)
		if cfg.Discover || cfg.AllAssets {
			total = -1
		}
		bar = newProgress(stderr, total)
		pcfg.OnAsset = bar.asset
		pcfg.OnTotal = bar.total
	}
	if group != nil {
		pcfg.Ownership = group
		pcfg.Owns = group.Owns
		group.SetAssets(pcfg.Assets)
	}
	poller, err := pipeline.NewPoller(pcfg)
	if err != nil {
		return err
	}
	if group != nil {
		// A replica reads back the data partitions it takes over, before it
		// polls their assets: what their previous owner published but did
		// not commit counts as published.
		group.SetOnAssigned(func(ctx context.Context, parts []int) error {
			ps := make([]int32, len(parts))
			for i, p := range parts {
				ps[i] = int32(p)
			}
			_, err := poller.Reconcile(ctx, ps)
			return err
		})
		// The group runs beside the poller: a damaged state partition stops
		// both; the poller stopping leaves the group, so the other replicas
		// take its assets over at once.
		var stopGroup func() error
		ctx, stopGroup, err = joinGroup(ctx, group, logger)
		if err != nil {
			return err
		}
		defer func() {
			if gerr := stopGroup(); gerr != nil && err == nil {
				err = gerr
			}
		}()
	}
	metrics.SetReadinessCheck(func() bool { return readiness(context.WithoutCancel(ctx), poller, sink) == nil })

	if cfg.MetricsAddr != "" {
		srv, err := serveMetrics(cfg.MetricsAddr, reg, poller, sink, logger)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	if demo != nil {
		demo.startPrinter(ctx, stdout)
	}

	logger.Info("producer started", "company", cfg.Company, "mode", mode(cfg), "topic", cfg.Topic,
		"framing", encoder.ContentType(), "state", stateName(cfg), "once", cfg.Once)
	var runErr error
	if cfg.Once {
		var stats pipeline.RoundStats
		stats, runErr = poller.RunOnce(ctx)
		bar.finish()
		if demo != nil {
			demo.waitPrinted(stats.Published, 30*time.Second)
		}
		if runErr == nil {
			logger.Info("one round done", "published", stats.Published, "assets", stats.Assets)
		}
	} else {
		runErr = poller.Run(ctx)
	}
	if demo != nil {
		demo.stopPrinter()
		demo.summary(stderr)
	}
	if runErr != nil && ctx.Err() != nil {
		if !cfg.Once {
			runErr = nil
		} else {
			runErr = errors.New("interrupted before the round completed; what was published is committed, run again to publish the rest")
		}
	}
	if runErr == nil {
		logger.Info("producer stopped")
	}
	return runErr
}

func mode(cfg *config) string {
	switch {
	case cfg.AllAssets:
		return "all-assets"
	case cfg.Discover && cfg.Backfill:
		return "discover+backfill"
	case cfg.Discover:
		return "discover"
	}
	return "assets"
}

func orForever(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// newLogger returns a slog logger: text on a terminal, JSON otherwise.
func newLogger(cfg *config, stderr io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToLower(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if isTerminal(stderr) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(stderr, opts))
}

// openState opens the checkpoint file. An unreadable file stops the
// producer unless -reset-state moves it aside.
func openState(cfg *config, logger *slog.Logger) (*boltstore.Store, error) {
	store, err := boltstore.Open(cfg.State)
	if err == nil {
		return store, nil
	}
	if !errors.Is(err, pipeline.ErrCorruptState) {
		return nil, err
	}
	if !cfg.ResetState {
		return nil, fmt.Errorf("%w; nothing was published. Restore the file from a backup, or start over with -reset-state "+
			"(moves it aside and re-publishes every entry of the watched assets, with the same eventIds)", err)
	}
	return moveStateAside(cfg, logger, "corrupt", "unreadable state moved aside; starting from scratch")
}

// moveStateAside renames the closed state file to <state>.<why>-<UTC time>
// for -reset-state, logs msg with both names and args, and opens a fresh
// state file in its place.
func moveStateAside(cfg *config, logger *slog.Logger, why, msg string, args ...any) (*boltstore.Store, error) {
	aside := fmt.Sprintf("%s.%s-%s", cfg.State, why, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(cfg.State, aside); err != nil {
		return nil, fmt.Errorf("-reset-state: move %s aside: %w", cfg.State, err)
	}
	logger.Warn(msg, append([]any{"state", cfg.State, "moved_to", aside}, args...)...)
	return boltstore.Open(cfg.State)
}

func newIPSClient(cfg *config, logger *slog.Logger, metrics *pipeline.Metrics) (*ips.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.IPSCAFile != "" || cfg.IPSInsecureSkipVerify {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.IPSCAFile != "" {
			pool, err := loadCAs(cfg.IPSCAFile)
			if err != nil {
				return nil, &usageError{fmt.Errorf("-ips-ca-file: %w", err)}
			}
			tc.RootCAs = pool
		}
		if cfg.IPSInsecureSkipVerify {
			logger.Warn("IPS TLS certificate verification is off (-ips-insecure-skip-verify): anyone on the path can read the credentials")
			tc.InsecureSkipVerify = true
		}
		transport.TLSClientConfig = tc
	}
	client, err := ips.New(ips.Config{
		URL:              cfg.IPSURL,
		Region:           cfg.IPSRegion,
		User:             cfg.IPSUser,
		Password:         cfg.ipsPassword,
		AccessToken:      cfg.ipsAccessToken,
		APIVersion:       cfg.IPSAPIVersion,
		Locale:           cfg.IPSLocale,
		HTTPClient:       &http.Client{Timeout: cfg.IPSTimeout, Transport: transport},
		MaxResponseBytes: cfg.IPSMaxResponseBytes,
		Observer: func(op string, d time.Duration, err error) {
			metrics.ObserveIPSCall(op, ipsOutcome(err), d)
			if err != nil {
				metrics.ObserveIPSError(ipsErrorKind(err))
			}
		},
	})
	if err != nil {
		return nil, &usageError{fmt.Errorf("IPS client: %w", err)}
	}
	return client, nil
}

func ipsOutcome(err error) string {
	var fault *ips.Fault
	var transport *ips.TransportError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &fault):
		return "fault"
	case errors.As(err, &transport):
		return "transport"
	}
	return "error"
}

// ipsErrorKind classifies a failed IPS call for assetjoblog_ips_errors_total.
func ipsErrorKind(err error) string {
	var fault *ips.Fault
	var transport *ips.TransportError
	switch {
	case errors.As(err, &fault):
		switch fault.Kind {
		case ips.FaultAuthentication, ips.FaultAuthorization, ips.FaultAPI:
			return fault.Kind.String()
		}
		return "unknown_fault"
	case errors.As(err, &transport):
		return "transport"
	case errors.Is(err, ips.ErrMalformedResponse):
		return "malformed"
	case errors.Is(err, ips.ErrResponseTooLarge):
		return "too_large"
	}
	return "other"
}

func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

func newEncoder(ctx context.Context, cfg *config, logger *slog.Logger) (pipeline.Encoder, error) {
	var enc *avro.Encoder
	var err error
	if cfg.SchemaRegistry == "" {
		enc, err = avro.NewSingleObjectEncoder()
	} else {
		strategy, perr := avro.ParseSubjectStrategy(cfg.SubjectStrategy)
		if perr != nil {
			return nil, &usageError{fmt.Errorf("-subject-strategy: %w", perr)}
		}
		enc, err = avro.NewConfluentEncoder(ctx, avro.RegistryConfig{
			URL: cfg.SchemaRegistry, Username: cfg.SchemaRegistryUser, Password: cfg.registryPassword,
			SubjectStrategy: strategy, Topic: cfg.Topic,
		})
		if err == nil {
			logger.Info("schema registered", "subject", enc.Subject(), "schema_id", enc.SchemaID())
		}
	}
	if err != nil {
		return nil, err // says "avro:" and names the registry and subject
	}
	return pipeline.WithUserEmail(enc, cfg.UserEmail, cfg.userEmailKey)
}

// newSink returns a sink writing to topic (-topic, or -dead-letter-topic).
func newSink(ctx context.Context, cfg *config, topic string) (*kafka.Sink, error) {
	// The sink's errors already say "kafka:" and name the brokers and topic.
	return kafka.NewSink(ctx, kafkaConfig(cfg, topic))
}

// kafkaConfig is the connection to Kafka, writing to topic.
func kafkaConfig(cfg *config, topic string) kafka.Config {
	kc := kafka.Config{
		Brokers:      splitList(cfg.Brokers),
		Topic:        topic,
		Compression:  cfg.Compression,
		CreateTopic:  cfg.CreateTopic,
		WriteTimeout: cfg.KafkaWriteTimeout,
	}
	if cfg.KafkaTLS {
		kc.TLS = kafka.TLSConfig{Enabled: true, CAFile: cfg.KafkaCAFile, InsecureSkipVerify: cfg.KafkaInsecureSkip}
	}
	if cfg.KafkaSASLMechanism != "" {
		kc.SASL = kafka.SASLConfig{Mechanism: cfg.KafkaSASLMechanism, Username: cfg.KafkaSASLUser, Password: cfg.saslPassword}
	}
	return kc
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
