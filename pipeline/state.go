package pipeline

import (
	"fmt"
)

// StateKind names a kind of checkpoint value. Stores keep each kind apart
// (the bbolt file in a bucket of that name), so a kind's name is part of the
// stored format and never changes.
type StateKind string

// The kinds of checkpoint value.
const (
	// StateAsset holds an AssetCheckpoint; the key names company and asset.
	StateAsset StateKind = "assets"
	// StateDiscovery holds a DiscoveryCheckpoint; the key names the company only.
	StateDiscovery StateKind = "discovery"
	// StateBackfill holds a BackfillCheckpoint; the key names the company
	// and the part of its catalog ("" for the whole of it).
	StateBackfill StateKind = "backfill"
	// StateBound holds a data partition's reconciliation bound; the key
	// names the company and the partition (decimal).
	StateBound StateKind = "bounds"
	// StateTopic holds the TopicIdentity the state was built against; the
	// key names the company only.
	StateTopic StateKind = "topic"
)

// StateKinds returns every kind of checkpoint value, for stores that verify
// or create them all.
func StateKinds() []StateKind {
	return []StateKind{StateAsset, StateDiscovery, StateBackfill, StateBound, StateTopic}
}

// StateKey identifies one checkpoint value.
type StateKey struct {
	Kind    StateKind
	Company string
	// Name is the asset handle for StateAsset and empty for kinds kept per
	// company.
	Name string
}

// Bytes returns the key as stored: the company, then a NUL and the name
// when there is one. It is also what a value's checksum covers besides the
// value itself, so a value copied under another key fails its check.
func (k StateKey) Bytes() []byte {
	if k.Name == "" && k.Kind != StateAsset {
		return []byte(k.Company)
	}
	return []byte(k.Company + "\x00" + k.Name)
}

// ParseStateKey is the inverse of StateKey.Bytes for a value of kind.
func ParseStateKey(kind StateKind, b []byte) StateKey {
	k := StateKey{Kind: kind}
	for i, c := range b {
		if c == 0 {
			k.Company, k.Name = string(b[:i]), string(b[i+1:])
			return k
		}
	}
	k.Company = string(b)
	return k
}

// String names the key in error messages.
func (k StateKey) String() string {
	if k.Name == "" {
		return fmt.Sprintf("%s %q", k.Kind, k.Company)
	}
	return fmt.Sprintf("%s %q/%q", k.Kind, k.Company, k.Name)
}

// StateStore is where checkpoint values go, as bytes: a bbolt file, a
// compacted Kafka topic, memory in tests. Every rule about what the bytes
// mean (format, checksum, what a checkpoint remembers) lives in this package
// (Checkpoints), so stores differ only in where the bytes go.
//
// Implementations are safe for concurrent use.
type StateStore interface {
	// Get returns the value stored under key, or nil and no error when
	// there is none.
	Get(key StateKey) ([]byte, error)
	// Put replaces the value stored under key. It is durable when it
	// returns: a crash after it keeps the value, a crash during it keeps
	// the previous one.
	Put(key StateKey, value []byte) error
}

// Checkpoints keeps every kind of checkpoint in a StateStore, encoding each
// value with the one state codec (format version and CRC-32C checksum). It
// implements AssetCheckpoints and DiscoveryCheckpoints and is safe for
// concurrent use when its store is.
type Checkpoints struct {
	store StateStore
}

var (
	_ AssetCheckpoints     = (*Checkpoints)(nil)
	_ DiscoveryCheckpoints = (*Checkpoints)(nil)
	_ BackfillCheckpoints  = (*Checkpoints)(nil)
)

// NewCheckpoints returns the checkpoints kept in store.
func NewCheckpoints(store StateStore) *Checkpoints {
	return &Checkpoints{store: store}
}

// load reads and decodes one value; ok is false when there is none, and
// the value is then the zero value. A value that does not decode is an
// error wrapping ErrCorruptState.
func load[T any](c *Checkpoints, key StateKey, decode func(StateKey, []byte) (T, error)) (out T, ok bool, err error) {
	var zero T
	v, err := c.store.Get(key)
	if err != nil {
		return zero, false, fmt.Errorf("load checkpoint %s: %w", key, err)
	}
	if v == nil {
		return zero, false, nil
	}
	if out, err = decode(key, v); err != nil {
		return zero, false, fmt.Errorf("load checkpoint %s: %w: %w", key, ErrCorruptState, err)
	}
	return out, true, nil
}

func (c *Checkpoints) commit(key StateKey, value []byte) error {
	if err := c.store.Put(key, value); err != nil {
		return fmt.Errorf("commit checkpoint %s: %w", key, err)
	}
	return nil
}

// LoadAsset returns the checkpoint of an asset, or the zero value.
func (c *Checkpoints) LoadAsset(k AssetKey) (AssetCheckpoint, error) {
	cp, _, err := load(c, assetStateKey(k), decodeAsset)
	return cp, err
}

// CommitAsset durably replaces the checkpoint of an asset.
func (c *Checkpoints) CommitAsset(k AssetKey, cp AssetCheckpoint) error {
	key := assetStateKey(k)
	return c.commit(key, encodeAsset(key, cp))
}

// LoadDiscovery returns the discovery cursor of a company, or the zero value.
func (c *Checkpoints) LoadDiscovery(company string) (DiscoveryCheckpoint, error) {
	cp, _, err := load(c, discoveryStateKey(company, ""), decodeDiscovery)
	return cp, err
}

// CommitDiscovery durably replaces the discovery cursor of a company.
func (c *Checkpoints) CommitDiscovery(company string, cp DiscoveryCheckpoint) error {
	key := discoveryStateKey(company, "")
	return c.commit(key, encodeDiscovery(key, cp))
}

// LoadBackfill returns the backfill progress of one part of a company's
// catalog ("" for the whole of it), or the zero value.
func (c *Checkpoints) LoadBackfill(company, part string) (BackfillCheckpoint, error) {
	cp, _, err := load(c, backfillStateKey(company, part), decodeBackfill)
	return cp, err
}

// CommitBackfill durably replaces the backfill progress of one part of a
// company's catalog.
func (c *Checkpoints) CommitBackfill(company, part string, cp BackfillCheckpoint) error {
	key := backfillStateKey(company, part)
	return c.commit(key, encodeBackfill(key, cp))
}

func backfillStateKey(company, part string) StateKey {
	return StateKey{Kind: StateBackfill, Company: company, Name: part}
}

func assetStateKey(k AssetKey) StateKey {
	return StateKey{Kind: StateAsset, Company: k.CompanyHandle, Name: k.AssetHandle}
}

// discoveryStateKey names the discovery cursor of one part of a company's
// assets ("" for the company's own cursor).
func discoveryStateKey(company, part string) StateKey {
	return StateKey{Kind: StateDiscovery, Company: company, Name: part}
}

// VerifyStateValue decodes a stored value of any known kind, checksum
// included, and reports what is wrong with it. Stores call it on every
// value when they open or restore, so that damage stops the producer before
// it publishes anything; the error does not wrap ErrCorruptState (the store
// adds where the value was).
func VerifyStateValue(key StateKey, value []byte) error {
	var err error
	switch key.Kind {
	case StateAsset:
		_, err = decodeAsset(key, value)
	case StateDiscovery:
		_, err = decodeDiscovery(key, value)
	case StateBackfill:
		_, err = decodeBackfill(key, value)
	case StateBound:
		_, err = decodeBound(key, value)
	case StateTopic:
		_, err = decodeTopic(key, value)
	default:
		err = fmt.Errorf("unknown kind %q", key.Kind)
	}
	return err
}

// DecodeAssetCheckpoint decodes a stored StateAsset value (for stores that
// report statistics).
func DecodeAssetCheckpoint(key StateKey, value []byte) (AssetCheckpoint, error) {
	return decodeAsset(key, value)
}
