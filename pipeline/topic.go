package pipeline

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
)

// TopicIdentity names the topic a state was built against: the cluster,
// the topic's name and Kafka's topic id, which changes when a topic is
// deleted and created again under the same name.
type TopicIdentity struct {
	ClusterID string
	Topic     string
	TopicID   [16]byte
}

// String names the topic, its id and its cluster, e.g.
// topic "jobs" (id 2f0c…) on cluster "q1Sh…".
func (t TopicIdentity) String() string {
	return fmt.Sprintf("topic %q (id %s) on cluster %q", t.Topic, hex.EncodeToString(t.TopicID[:]), t.ClusterID)
}

// ErrTopicChanged is returned (wrapped, naming both topics) by CheckTopic
// when the state was built against another topic, a re-created topic or
// another cluster. It is permanent: the user decides what to do.
var ErrTopicChanged = errors.New("the state was built against another topic")

// CheckTopic compares the topic the state was built against with the one
// the producer is about to write to, and returns an error wrapping
// ErrTopicChanged that names both when they differ.
func CheckTopic(stored, current TopicIdentity) error {
	if stored == current {
		return nil
	}
	what := "another topic"
	switch {
	case stored.ClusterID != current.ClusterID:
		what = "another cluster"
	case stored.Topic == current.Topic:
		what = "a topic since deleted and re-created"
	}
	return fmt.Errorf("%w: it was built against %s, and the producer now writes to %s (%s)", ErrTopicChanged, stored, current, what)
}

func topicStateKey(company string) StateKey {
	return StateKey{Kind: StateTopic, Company: company}
}

func boundStateKey(company string, partition int32) StateKey {
	return StateKey{Kind: StateBound, Company: company, Name: strconv.Itoa(int(partition))}
}

// LoadTopic returns the topic the state was built against; ok is false when
// it records none (a new state, or one written by an older version).
func (c *Checkpoints) LoadTopic(company string) (t TopicIdentity, ok bool, err error) {
	return load(c, topicStateKey(company), decodeTopic)
}

// CommitTopic durably records the topic the state is built against.
func (c *Checkpoints) CommitTopic(company string, t TopicIdentity) error {
	key := topicStateKey(company)
	return c.commit(key, encodeTopic(key, t))
}

// LoadBound implements BoundCheckpoints.
func (c *Checkpoints) LoadBound(company string, partition int32) (offset int64, ok bool, err error) {
	return load(c, boundStateKey(company, partition), decodeBound)
}

// CommitBound implements BoundCheckpoints.
func (c *Checkpoints) CommitBound(company string, partition int32, offset int64) error {
	key := boundStateKey(company, partition)
	return c.commit(key, encodeBound(key, offset))
}

var _ BoundCheckpoints = (*Checkpoints)(nil)
