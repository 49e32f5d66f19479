package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// minRetention is the retention.ms below which the producer warns. What it
// published but had not committed when it stopped is read back when it
// starts again: that tail spans at most one round (the bound advances every
// few seconds and at the end of each round), plus however long the
// producer stays down, which it cannot know. A day covers a crash noticed
// the next morning.
const minRetention = 24 * time.Hour

// checkTopic reads the topic's identity and configuration, refuses a
// compacted topic and warns of a weak one (one line each).
func checkTopic(ctx context.Context, sink *kafka.Sink, logger *slog.Logger) (kafka.TopicInfo, error) {
	info, err := sink.DescribeTopic(ctx)
	if err != nil {
		return info, err
	}
	warnings, err := info.Check(minRetention)
	if err != nil {
		return info, err
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
	return info, nil
}

// bindState makes sure the state was built against the topic the producer
// writes to, and records that topic in a state that names none yet.
//
// When the state names another topic, a re-created topic or another
// cluster, the producer refuses to start, with one line naming both, unless
// told what to do:
//   - -reset-state moves the state aside and starts over: every entry of
//     the watched assets is published to the new topic;
//   - -adopt-topic binds the state to the new topic and carries on from its
//     checkpoints: the new topic is taken to hold what the old one held
//     (mirrored or copied), so only entries the state does not count as
//     published go to it. The reconciliation bounds restart from the new
//     topic's current ends.
//
// It returns the store to use (a new one after -reset-state), never nil:
// on error, one the caller may still close (closing twice is safe).
func bindState(ctx context.Context, cfg *config, logger *slog.Logger, store *boltstore.Store, sink *kafka.Sink, now pipeline.TopicIdentity) (*boltstore.Store, error) {
	stored, mismatch, err := bindTopic(ctx, cfg, logger, store.Checkpoints, sink, now,
		"state bound to a new topic (-adopt-topic); carrying on from its checkpoints")
	if err != nil || mismatch == nil {
		return store, err
	}
	if cfg.ResetState {
		if err := store.Close(); err != nil {
			return store, err
		}
		fresh, err := moveStateAside(cfg, logger, "other-topic", "state built against another topic moved aside; starting from scratch",
			"was", stored.String(), "now", now.String())
		if err != nil {
			return store, err
		}
		return fresh, fresh.CommitTopic(cfg.Company, now)
	}
	return store, fmt.Errorf("state %s: %w; nothing was published. Start over with -reset-state (moves the state aside and "+
		"publishes every entry of the watched assets to this topic), or pass -adopt-topic if this topic already holds what the "+
		"other held (carries on from the state)", cfg.State, mismatch)
}

// bindTopic records the data topic now in checkpoints that name none yet,
// and compares it with the one they name. When the two differ, -adopt-topic
// binds the checkpoints to now, restarting the reconciliation bounds from
// the topic's current ends, and logs adopted; otherwise the difference is
// returned as mismatch (wrapping pipeline.ErrTopicChanged), with the topic
// the checkpoints name, for the caller to refuse or start over. err is a
// failure to read or write the checkpoints or the topic.
func bindTopic(ctx context.Context, cfg *config, logger *slog.Logger, cps *pipeline.Checkpoints, sink *kafka.Sink, now pipeline.TopicIdentity,
	adopted string) (stored pipeline.TopicIdentity, mismatch, err error) {
	stored, ok, err := cps.LoadTopic(cfg.Company)
	if err != nil {
		return stored, nil, err
	}
	if !ok {
		return stored, nil, cps.CommitTopic(cfg.Company, now)
	}
	mismatch = pipeline.CheckTopic(stored, now)
	if mismatch == nil || !cfg.AdoptTopic {
		return stored, mismatch, nil
	}
	for p := range sink.Partitions() {
		end, err := sink.EndOffset(ctx, p)
		if err != nil {
			return stored, nil, fmt.Errorf("-adopt-topic: %w", err)
		}
		if err := cps.CommitBound(cfg.Company, p, end); err != nil {
			return stored, nil, fmt.Errorf("-adopt-topic: %w", err)
		}
	}
	if err := cps.CommitTopic(cfg.Company, now); err != nil {
		return stored, nil, fmt.Errorf("-adopt-topic: %w", err)
	}
	logger.Warn(adopted, "was", stored.String(), "now", now.String())
	return stored, nil, nil
}
