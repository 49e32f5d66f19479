package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// GroupMetrics records the group's state; *pipeline.Metrics implements it.
type GroupMetrics interface {
	GroupAssigned(generation, partitions, assets int)
	GroupStatePartitions(n int)
	GroupRebalance()
	GroupRestored(d time.Duration)
}

// GroupConfig configures a Group.
type GroupConfig struct {
	// Kafka is the connection (brokers, TLS, SASL, timeouts).
	Kafka Config
	// ID is the consumer group the replicas join. Required.
	ID string
	// Store is the state store on the group's topic; the group restores
	// the partitions it is assigned from it before owning them. Required.
	Store *StateStore
	// Company is the company whose assets the replicas share. Required.
	Company string
	// SessionTimeout is how long the coordinator waits for a silent member
	// before it gives the member's partitions to the others.
	//
	// Default: 10s.
	SessionTimeout time.Duration
	// OnAssigned, when set, runs after the newly assigned partitions are
	// restored and before the member owns them (and polls their assets):
	// the place to reconcile them with the data topic. An error ends the
	// generation; the member joins again.
	OnAssigned func(ctx context.Context, partitions []int) error
	// Metrics records the group's state. Default: none.
	Metrics GroupMetrics
	// Logger receives membership changes. Default: discard.
	Logger *slog.Logger
}

// Group is this producer's membership of the consumer group on the state
// topic, through kafka-go's ConsumerGroup: the group's coordinator assigns
// the partitions of the state topic to the members, and each member owns
// the assets whose partition (murmur2 of the handle) it was assigned. It
// implements pipeline.Ownership.
//
// On each new assignment the member restores its partitions from the state
// topic, runs GroupConfig.OnAssigned, and only then owns them. When a
// generation ends (a member joins or leaves, or this member lost contact
// with the coordinator) the member stops claiming assets, lets the assets
// it started finish within a bound (Drain), and then joins the next
// generation; the coordinator holds the rebalance until it rejoins, so the
// next owner starts only after this one finished.
//
// A member that was paused (SIGSTOP, a stalled VM) for longer than a third
// of the session timeout treats its claims as lost at once: after such a
// pause the coordinator may already have given its partitions to another
// member, so it neither publishes nor commits until it has rejoined.
type Group struct {
	cfg    GroupConfig
	cg     *kafkago.ConsumerGroup
	log    *slog.Logger
	drain  time.Duration // how long a finished generation waits for claims
	assets []string      // for the owned-assets metric

	current  atomic.Pointer[generation]
	assigned chan struct{} // closed at the first assignment
	once     sync.Once

	// Pause detection: the monotonic time of the last tick of a ticker
	// running every pauseTick.
	lastTick  atomic.Int64
	pauseMax  time.Duration
	startedAt time.Time
	lost      chan struct{} // a pause was detected; signalled to the generation
}

var _ pipeline.Ownership = (*Group)(nil)

const pauseTick = 100 * time.Millisecond

// NewGroup validates cfg and prepares the membership; Run joins.
func NewGroup(cfg GroupConfig) (*Group, error) {
	cfg.Kafka.setDefaults()
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	switch {
	case cfg.ID == "":
		return nil, &ConfigError{Field: "ID", Problem: "the group id is required"}
	case cfg.Store == nil:
		return nil, &ConfigError{Field: "Store", Problem: "the state store is required"}
	case cfg.Company == "":
		return nil, &ConfigError{Field: "Company", Problem: "the company is required"}
	case cfg.SessionTimeout < time.Second:
		return nil, &ConfigError{Field: "SessionTimeout", Problem: "must be at least 1s"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tlsConfig, mechanism, err := cfg.Kafka.security()
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger.With("group", cfg.ID, "state_topic", cfg.Store.Topic())
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:      cfg.ID,
		Brokers: cfg.Kafka.Brokers,
		Dialer: &kafkago.Dialer{
			ClientID: cfg.Kafka.ClientID, Timeout: cfg.Kafka.DialTimeout, DualStack: true,
			TLS: tlsConfig, SASLMechanism: mechanism,
		},
		Topics:            []string{cfg.Store.Topic()},
		GroupBalancers:    []kafkago.GroupBalancer{kafkago.RangeGroupBalancer{}},
		SessionTimeout:    cfg.SessionTimeout,
		HeartbeatInterval: cfg.SessionTimeout / 5,
		// The coordinator waits this long for every member to rejoin, so
		// an old owner's draining (half the session timeout, then a write
		// already sent) must end within it.
		RebalanceTimeout: 2*cfg.SessionTimeout + cfg.Kafka.WriteTimeout,
		JoinGroupBackoff: cfg.SessionTimeout / 10,
		// The offsets of this group are never committed: the checkpoints
		// are the state topic's values, not a read position.
		StartOffset:           kafkago.FirstOffset,
		WatchPartitionChanges: true,
		ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
			logger.Debug(fmt.Sprintf(format, args...))
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("kafka: join group %q on brokers %v: %w", cfg.ID, cfg.Kafka.Brokers, err)
	}
	g := &Group{
		cfg:       cfg,
		cg:        cg,
		log:       logger,
		drain:     cfg.SessionTimeout / 2,
		assigned:  make(chan struct{}),
		pauseMax:  cfg.SessionTimeout / 3,
		startedAt: time.Now(),
		lost:      make(chan struct{}, 1),
	}
	g.tick()
	if cfg.Metrics != nil {
		cfg.Metrics.GroupStatePartitions(cfg.Store.Partitions())
	}
	return g, nil
}

// generation is one assignment of partitions to this member.
type generation struct {
	id    int32
	owned map[int]bool

	// lost is set when the process was paused long enough to have lost
	// its membership: every claim is invalid at once, without draining.
	lost atomic.Bool
	// revoked is set when the claims did not drain in time: they are
	// invalid, and the member only waits for writes already sent.
	revoked atomic.Bool

	mu       sync.Mutex
	ended    bool // no new claims
	inflight int
	drained  chan struct{} // closed once ended with no claim in flight
}

// Run takes part in the group until ctx is cancelled, restoring and owning
// the partitions of each generation. It returns nil on cancellation, and
// an error only when a partition cannot be restored because a value in it
// is damaged (pipeline.ErrCorruptState): publishing nothing is then the
// only safe course. Other failures (the coordinator unreachable, a failed
// restore) are logged and retried by joining again.
func (g *Group) Run(ctx context.Context) error {
	stopTicker := g.watchPauses(ctx)
	defer stopTicker()
	var prev []int
	for {
		gen, err := g.cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				return nil
			}
			if errors.Is(err, kafkago.InvalidSessionTimeout) {
				return fmt.Errorf("kafka: join group %q: session timeout %s is outside the range the brokers allow "+
					"(group.min.session.timeout.ms, 6s by default, to group.max.session.timeout.ms): %w", g.cfg.ID, g.cfg.SessionTimeout, err)
			}
			for _, code := range []kafkago.Error{kafkago.GroupAuthorizationFailed, kafkago.TopicAuthorizationFailed, kafkago.InvalidGroupId} {
				if errors.Is(err, code) {
					return fmt.Errorf("kafka: join group %q on state topic %q: %w", g.cfg.ID, g.cfg.Store.Topic(), err)
				}
			}
			g.log.Warn("group membership: joining again", "err", err)
			continue
		}
		if g.cfg.Metrics != nil {
			g.cfg.Metrics.GroupRebalance()
		}
		var parts []int
		for _, a := range gen.Assignments[g.cfg.Store.Topic()] {
			parts = append(parts, a.ID)
		}
		slices.Sort(parts)
		start := time.Now()
		err = g.takeOver(ctx, parts)
		if errors.Is(err, pipeline.ErrCorruptState) {
			gen.Start(func(context.Context) {})
			return err
		}
		if err != nil {
			g.log.Warn("group membership: could not take over the assigned partitions; joining again",
				"generation", gen.ID, "partitions", parts, "err", err)
			gen.Start(func(context.Context) {})
			continue
		}
		var dropped []int
		for _, p := range prev {
			if !slices.Contains(parts, p) {
				dropped = append(dropped, p)
			}
		}
		g.cfg.Store.Drop(dropped)
		prev = parts
		cur := &generation{id: gen.ID, owned: map[int]bool{}, drained: make(chan struct{})}
		for _, p := range parts {
			cur.owned[p] = true
		}
		g.current.Store(cur)
		g.once.Do(func() { close(g.assigned) })
		if g.cfg.Metrics != nil {
			g.cfg.Metrics.GroupRestored(time.Since(start))
			g.cfg.Metrics.GroupAssigned(int(gen.ID), len(parts), g.ownedAssets(cur))
		}
		select {
		case <-g.lost: // a pause before this generation says nothing about it
		default:
		}
		g.log.Info("group assignment", "generation", gen.ID, "member", gen.MemberID, "partitions", parts,
			"restore_ms", time.Since(start).Milliseconds())
		gen.Start(func(gctx context.Context) {
			select {
			case <-gctx.Done():
			case <-g.lost:
				g.log.Warn("paused for longer than a third of the session timeout: giving up the assets until rejoined",
					"generation", cur.id)
			}
			g.end(cur)
		})
	}
}

// takeOver restores the assigned partitions (and the company partition,
// which other members write too) and runs OnAssigned.
func (g *Group) takeOver(ctx context.Context, parts []int) error {
	restore := parts
	if !slices.Contains(parts, CompanyPartition) {
		restore = append([]int{CompanyPartition}, parts...)
	}
	if err := g.cfg.Store.Restore(ctx, restore); err != nil {
		return err
	}
	if g.cfg.OnAssigned != nil {
		return g.cfg.OnAssigned(ctx, parts)
	}
	return nil
}

// end stops new claims on the generation and waits for the claims in
// flight, at most the drain bound; then the member may rejoin.
func (g *Group) end(cur *generation) {
	cur.mu.Lock()
	cur.ended = true
	if cur.inflight == 0 {
		close(cur.drained)
	}
	cur.mu.Unlock()
	t := time.NewTimer(g.drain)
	defer t.Stop()
	select {
	case <-cur.drained:
	case <-t.C:
		// Their claims stop being valid now; a write of theirs already
		// sent still lands, so wait for it (it ends within the write
		// timeout, then the poller sees the claim gone and releases it)
		// before the partitions can go to another member.
		cur.revoked.Store(true)
		g.log.Warn("assets still in flight when the generation ended; they will not publish or commit", "generation", cur.id)
		t.Reset(g.cfg.Kafka.WriteTimeout + time.Second)
		select {
		case <-cur.drained:
		case <-t.C:
		}
	}
	g.current.CompareAndSwap(cur, nil)
	if g.cfg.Metrics != nil {
		g.cfg.Metrics.GroupAssigned(int(cur.id), 0, 0)
	}
}

// SetOnAssigned sets GroupConfig.OnAssigned, for a caller that builds the
// reconciler after the group. Call it before Run.
func (g *Group) SetOnAssigned(fn func(ctx context.Context, partitions []int) error) {
	g.cfg.OnAssigned = fn
}

// SetAssets gives the asset list (assets mode), so that the metrics count
// the assets owned. Call it before Run.
func (g *Group) SetAssets(assets []string) { g.assets = assets }

func (g *Group) ownedAssets(cur *generation) int {
	n := 0
	for _, a := range g.assets {
		if cur.owned[g.cfg.Store.PartitionOf(a)] {
			n++
		}
	}
	return n
}

// WaitAssigned blocks until the member owns its first assignment, or ctx
// ends.
func (g *Group) WaitAssigned(ctx context.Context) error {
	select {
	case <-g.assigned:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Owns reports whether the asset's partition is this member's in the
// current generation.
func (g *Group) Owns(asset string) bool {
	return g.OwnsPartition(int32(g.cfg.Store.PartitionOf(asset)))
}

// OwnsPartition implements pipeline.Ownership: whether partition p (of the
// state topic, and so of the data topic) is this member's now.
func (g *Group) OwnsPartition(p int32) bool {
	return g.owns(g.current.Load(), int(p))
}

// owns reports whether generation cur (nil when there is none) gives this
// member partition p and still holds: it was not lost to a pause and the
// process is awake.
func (g *Group) owns(cur *generation, p int) bool {
	return cur != nil && cur.owned[p] && !cur.lost.Load() && g.awake()
}

// OwnedPartitions returns the partitions owned now, in order.
func (g *Group) OwnedPartitions() []int {
	cur := g.current.Load()
	if cur == nil {
		return nil
	}
	var ps []int
	for p := range cur.owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Claim implements pipeline.Ownership: it claims an asset of a partition
// this member owns, unless the generation is ending.
func (g *Group) Claim(asset string) (pipeline.Claim, bool) {
	cur := g.current.Load()
	if !g.owns(cur, g.cfg.Store.PartitionOf(asset)) {
		return nil, false
	}
	cur.mu.Lock()
	defer cur.mu.Unlock()
	if cur.ended {
		return nil, false
	}
	cur.inflight++
	return &claim{g: g, gen: cur}, true
}

type claim struct {
	g        *Group
	gen      *generation
	released atomic.Bool
}

// Valid reports whether the member may still publish and commit: the
// claim's generation is current (or ending, and draining its claims), and
// the process has not been paused long enough to have lost its membership.
func (c *claim) Valid() bool {
	return !c.released.Load() && !c.gen.lost.Load() && !c.gen.revoked.Load() && c.g.current.Load() == c.gen && c.g.awake()
}

func (c *claim) Release() {
	if c.released.Swap(true) {
		return
	}
	c.gen.mu.Lock()
	defer c.gen.mu.Unlock()
	c.gen.inflight--
	if c.gen.ended && c.gen.inflight == 0 {
		close(c.gen.drained)
	}
}

// awake reports whether the pause detector ticked recently: after a pause
// longer than pauseMax the member may have been expelled by the
// coordinator.
func (g *Group) awake() bool {
	return g.since(g.lastTick.Load()) < g.pauseMax
}

func (g *Group) tick() { g.lastTick.Store(int64(time.Since(g.startedAt))) }

func (g *Group) since(mono int64) time.Duration {
	return time.Since(g.startedAt) - time.Duration(mono)
}

// watchPauses ticks every pauseTick; a gap longer than pauseMax between
// two ticks means the process was paused, and ends the generation.
func (g *Group) watchPauses(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(pauseTick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if gap := g.since(g.lastTick.Load()); gap >= g.pauseMax {
				if cur := g.current.Load(); cur != nil {
					cur.lost.Store(true)
				}
				select {
				case g.lost <- struct{}{}:
				default:
				}
			}
			g.tick()
		}
	}()
	return func() { cancel(); <-done }
}

// Close leaves the group: the coordinator gives this member's partitions
// to the others at once, without waiting out the session timeout. Claims
// in flight stop being valid.
func (g *Group) Close() error {
	if cur := g.current.Swap(nil); cur != nil {
		cur.mu.Lock()
		cur.ended = true
		cur.mu.Unlock()
	}
	return g.cg.Close()
}

// DiscoveryCheckpoints returns the discovery cursors of the replicas: one
// per partition of the state topic, so that a partition moving to another
// member carries its cursor. Each member discovers for itself from the
// oldest cursor of the partitions it owns, and polls only the touched
// assets it owns; a round's cursor is committed to those partitions only if
// they were owned for the whole round.
func (g *Group) DiscoveryCheckpoints(cps *pipeline.Checkpoints) pipeline.DiscoveryCheckpoints {
	return &discoveryParts{g: g, cps: cps}
}

type discoveryParts struct {
	g   *Group
	cps *pipeline.Checkpoints

	mu     sync.Mutex
	loaded *generation // the generation the last load saw
}

// DiscoveryPart names the discovery cursor that replicas keep for state
// partition p (see Group.DiscoveryCheckpoints).
func DiscoveryPart(p int) string { return "partition/" + strconv.Itoa(p) }

func (d *discoveryParts) LoadDiscovery(company string) (pipeline.DiscoveryCheckpoint, error) {
	cur := d.g.current.Load()
	d.mu.Lock()
	d.loaded = cur
	d.mu.Unlock()
	out := pipeline.DiscoveryCheckpoint{Done: map[string]int64{}}
	if cur == nil || len(cur.owned) == 0 {
		// Nothing owned: a short look back, committed nowhere.
		out.Cursor = time.Now().UTC().Truncate(time.Millisecond)
		return out, nil
	}
	first := true
	// A running job's row cursor counts only where every owned partition
	// has one, at its lowest: reading rows again costs calls, skipping
	// them would lose the assets they touched. Likewise a job counts as
	// done only where every owned partition has it done: a partition just
	// taken over may not have processed a job that another one has.
	rows, seen := map[string]int{}, map[string]int{}
	done := map[string]int{}
	for p := range cur.owned {
		cp, err := d.cps.LoadDiscoveryPart(company, DiscoveryPart(p))
		if err != nil {
			return out, err
		}
		if first || cp.Cursor.Before(out.Cursor) {
			out.Cursor = cp.Cursor
		}
		first = false
		for h, ms := range cp.Done {
			out.Done[h] = ms
			done[h]++
		}
		for h, n := range cp.Rows {
			if old, ok := rows[h]; !ok || n < old {
				rows[h] = n
			}
			seen[h]++
		}
	}
	for h, n := range done {
		if n != len(cur.owned) {
			delete(out.Done, h)
		}
	}
	for h, n := range rows {
		if seen[h] == len(cur.owned) {
			if out.Rows == nil {
				out.Rows = map[string]int{}
			}
			out.Rows[h] = n
		}
	}
	return out, nil
}

func (d *discoveryParts) CommitDiscovery(company string, cp pipeline.DiscoveryCheckpoint) error {
	d.mu.Lock()
	loaded := d.loaded
	d.mu.Unlock()
	cur := d.g.current.Load()
	if loaded == nil || cur != loaded || cur.lost.Load() || !d.g.awake() {
		// The assignment changed during the round: the next round lists
		// the same jobs again from the older cursors.
		return nil
	}
	for p := range cur.owned {
		if err := d.cps.CommitDiscoveryPart(company, DiscoveryPart(p), cp); err != nil {
			return err
		}
	}
	return nil
}
