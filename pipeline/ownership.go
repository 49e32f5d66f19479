package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Ownership tells a producer that shares a company's assets with other
// replicas which assets are its own. The Poller claims each asset before
// it works on it and skips those it cannot claim; it checks the claim again
// before it publishes and before it commits, so a replica that lost an
// asset (to a rebalance, or because it was cut off from the group) neither
// publishes nor commits for it afterwards. Without an Ownership every asset
// is the Poller's own.
//
// Implementations are safe for concurrent use.
type Ownership interface {
	// Claim reports whether asset is this replica's to poll now and, if so,
	// returns a claim that the Poller releases when the asset's work ends.
	Claim(asset string) (Claim, bool)
	// OwnsPartition reports whether this replica is the one writer of a
	// partition of the topic now (the assets of data partition p are the
	// assets of one owner): only the owner moves the partition's
	// reconciliation bound, and reads it back when it takes it over.
	OwnsPartition(partition int32) bool
}

// Claim is a replica's hold on one asset while it works on it. While
// claims are held, a replica whose assets move to another finishes them
// (publishes and commits what it started) before it lets the other start.
type Claim interface {
	// Valid reports whether the replica may still publish and commit for
	// the asset.
	Valid() bool
	// Release ends the claim. It is idempotent.
	Release()
}

// ErrNotOwner is returned (wrapped) for an asset whose claim stopped being
// valid before its entries were published or its checkpoint committed: the
// asset now belongs to another replica, which polls it. It is not a
// failure of the round.
var ErrNotOwner = errors.New("asset no longer owned by this replica")

type claimKey struct{}

// stillOwned returns an error wrapping ErrNotOwner when the claim ctx
// carries (if any) is no longer valid.
func stillOwned(ctx context.Context, asset, before string) error {
	c, _ := ctx.Value(claimKey{}).(Claim)
	if c == nil || c.Valid() {
		return nil
	}
	return fmt.Errorf("%w: asset %q, before %s", ErrNotOwner, asset, before)
}

// claim claims asset under the configured Ownership; the returned context
// carries the claim to the checks before publishing and committing.
func (p *Poller) claim(ctx context.Context, asset string) (context.Context, func(), bool) {
	if p.cfg.Ownership == nil {
		return ctx, func() {}, true
	}
	c, ok := p.cfg.Ownership.Claim(asset)
	if !ok {
		return ctx, nil, false
	}
	return context.WithValue(ctx, claimKey{}, c), c.Release, true
}

// LoadDiscoveryPart returns the discovery cursor that a company keeps for
// one part of its assets, or the zero value. Replicas that each discover
// for themselves keep one cursor per part they own (a partition of the
// state topic), so a part that moves to another replica carries its cursor
// with it.
func (c *Checkpoints) LoadDiscoveryPart(company, part string) (DiscoveryCheckpoint, error) {
	cp, _, err := load(c, discoveryStateKey(company, part), decodeDiscovery)
	return cp, err
}

// CommitDiscoveryPart durably replaces the discovery cursor of one part of
// a company's assets.
func (c *Checkpoints) CommitDiscoveryPart(company, part string, cp DiscoveryCheckpoint) error {
	key := discoveryStateKey(company, part)
	return c.commit(key, encodeDiscovery(key, cp))
}

// claimWatch is how often whileOwned looks at the claim.
const claimWatch = 20 * time.Millisecond

// whileOwned returns a context that is cancelled as soon as the claim ctx
// carries (if any) stops being valid, and a func that releases it. A write
// still waiting to go out (for a connection, for the partition's leader,
// while the broker restarts) is then abandoned instead of landing after
// the asset's new owner has read the partition back; a write whose request
// has already gone out may still land (the window the group cannot close).
func whileOwned(ctx context.Context) (context.Context, context.CancelFunc) {
	c, _ := ctx.Value(claimKey{}).(Claim)
	if c == nil {
		return ctx, func() {}
	}
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(claimWatch)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				if !c.Valid() {
					cancel()
					return
				}
			}
		}
	}()
	return wctx, cancel
}

// abandoned returns err, wrapped as ErrNotOwner when the claim ctx carries
// stopped being valid: a publish cut short because its asset moved to
// another replica is not a failure of the round.
func abandoned(ctx context.Context, asset string, err error) error {
	if err == nil || errors.Is(err, ErrNotOwner) {
		return err
	}
	if lost := stillOwned(ctx, asset, "publishing"); lost != nil {
		return fmt.Errorf("%w (the write was abandoned: %v)", lost, err)
	}
	return err
}
