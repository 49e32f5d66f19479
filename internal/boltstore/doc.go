// Package boltstore keeps the producer's checkpoints in an embedded bbolt
// file (go.etcd.io/bbolt).
//
// bbolt was chosen because it is a single file with copy-on-write B+tree
// pages and a meta page switch per transaction, fsynced before a commit
// returns: a kill -9 at any instant leaves either the previous or the new
// commit, never a torn one. Concurrent commits from the poller's workers are
// coalesced into one transaction (bbolt's Batch), so durability costs one
// fsync per batch, not per asset.
//
// The file is a pipeline.StateStore: one bucket per pipeline.StateKind,
// keyed by pipeline.StateKey.Bytes, holding the bytes of the pipeline's one
// state codec (format version and checksum included). What a checkpoint
// means, how it is encoded and verified, lives in package pipeline; this
// package only decides where the bytes go, so a Kafka-backed store keeps
// exactly the same values.
//
// The store holds, per asset, a watermark and the event ids published after
// it (see pipeline.AssetCheckpoint), and per company the discovery cursor;
// its size is bounded by the late-arrival window, not by the length of the
// logs. It does not keep entries or their payloads.
package boltstore
