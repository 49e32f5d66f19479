package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// checkpoints is every kind of checkpoint the poller keeps: the state file
// (*boltstore.Store) or the state topic (*pipeline.Checkpoints on a
// *kafka.StateStore).
type checkpoints interface {
	pipeline.AssetCheckpoints
	pipeline.DiscoveryCheckpoints
	pipeline.BackfillCheckpoints
	pipeline.BoundCheckpoints
}

// bindStateTopic is bindState for the state topic: it records the data
// topic in a state topic that names none yet, and refuses one built against
// another topic, a re-created topic or another cluster unless -adopt-topic
// says to carry on. A state topic is not moved aside: to start over, name
// a new -state-topic.
func bindStateTopic(ctx context.Context, cfg *config, logger *slog.Logger, cps *pipeline.Checkpoints, sink *kafka.Sink, now pipeline.TopicIdentity) error {
	_, mismatch, err := bindTopic(ctx, cfg, logger, cps, sink, now,
		"state topic bound to a new data topic (-adopt-topic); carrying on from its checkpoints")
	if err != nil || mismatch == nil {
		return err
	}
	return fmt.Errorf("state topic %s: %w; nothing was published. Start over with a new -state-topic (publishes every entry of the "+
		"watched assets to this topic), or pass -adopt-topic if this topic already holds what the other held (carries on from the state)",
		cfg.StateTopic, mismatch)
}

// stateName names where the checkpoints are, for the start-up line.
func stateName(cfg *config) string {
	if cfg.StateTopic != "" {
		return "topic " + cfg.StateTopic + " (group " + cfg.group() + ")"
	}
	return cfg.State
}

// joinGroup runs the group membership beside the poller and waits for the
// first assignment. The returned context ends when ctx does or when the
// membership fails for good (a damaged state partition); stop leaves the
// group, so the other replicas take the assets over without waiting out the
// session timeout, and returns that failure.
func joinGroup(ctx context.Context, group *kafka.Group, logger *slog.Logger) (context.Context, func() error, error) {
	gctx, cancel := context.WithCancelCause(ctx)
	done := make(chan error, 1)
	go func() {
		err := group.Run(gctx)
		if err != nil {
			cancel(err)
		}
		done <- err
	}()
	stop := func() error {
		group.Close()
		cancel(nil)
		return <-done
	}
	logger.Info("joining the group", "state", group)
	if err := group.WaitAssigned(gctx); err != nil {
		if cause := context.Cause(gctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		if serr := stop(); serr != nil {
			err = serr
		}
		return ctx, nil, err
	}
	return gctx, stop, nil
}

// migrateState copies every checkpoint of the -state file into the state
// topic, once, when moving from the file to the topic: the producers then
// start from exactly where the file left off, re-publishing and skipping
// nothing. It refuses a topic that already holds checkpoints of the
// company, which may be newer than the file's.
func migrateState(ctx context.Context, cfg *config, topic *kafka.StateStore, logger *slog.Logger) error {
	file, err := boltstore.Open(cfg.State)
	if err != nil {
		return fmt.Errorf("-migrate-state-to-topic: %w", err)
	}
	defer file.Close()
	all := make([]int, topic.Partitions())
	for i := range all {
		all[i] = i
	}
	if err := topic.Restore(ctx, all); err != nil {
		return fmt.Errorf("-migrate-state-to-topic: %w", err)
	}
	held := 0
	if err := topic.Each(func(key pipeline.StateKey, _ []byte) error {
		if key.Company == cfg.Company {
			held++
		}
		return nil
	}); err != nil {
		return err
	}
	if held > 0 {
		return fmt.Errorf("-migrate-state-to-topic: state topic %q already holds %d checkpoints of company %q, which may be newer than %s; "+
			"nothing was copied (migrate into a new, empty state topic)", topic.Topic(), held, cfg.Company, cfg.State)
	}

	counts := map[pipeline.StateKind]int{}
	other := 0
	err = file.Each(func(key pipeline.StateKey, value []byte) error {
		if key.Company != cfg.Company {
			other++
			return nil
		}
		// Copied byte for byte: the file's values are already in the
		// shared codec, checksummed over the same key.
		if err := pipeline.VerifyStateValue(key, value); err != nil {
			return fmt.Errorf("checkpoint %s in %s: %w: %w", key, cfg.State, pipeline.ErrCorruptState, err)
		}
		if err := topic.Put(key, value); err != nil {
			return err
		}
		counts[key.Kind]++
		return nil
	})
	if err != nil {
		return fmt.Errorf("-migrate-state-to-topic: %w (copied %d values before it; migrate again into a new, empty state topic)", err, total(counts))
	}
	// Replicas that discover each keep the cursor of every state partition
	// they own: each partition starts from the file's cursor.
	if counts[pipeline.StateDiscovery] > 0 {
		cursor, err := file.LoadDiscovery(cfg.Company)
		if err != nil {
			return fmt.Errorf("-migrate-state-to-topic: %w", err)
		}
		cps := pipeline.NewCheckpoints(topic)
		for _, p := range all {
			if err := cps.CommitDiscoveryPart(cfg.Company, kafka.DiscoveryPart(p), cursor); err != nil {
				return fmt.Errorf("-migrate-state-to-topic: %w", err)
			}
		}
	}
	logger.Info("checkpoints copied to the state topic; start the producers with -state-topic and without -migrate-state-to-topic",
		"state", cfg.State, "state_topic", topic.Topic(), "assets", counts[pipeline.StateAsset],
		"discovery", counts[pipeline.StateDiscovery], "backfill", counts[pipeline.StateBackfill], "other_companies_skipped", other)
	return nil
}

func total(m map[pipeline.StateKind]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
