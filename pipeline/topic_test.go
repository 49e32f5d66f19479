package pipeline_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

func TestBoundsAndTopicRoundTrip(t *testing.T) {
	st := pipelinetest.NewState()
	cps := pipeline.NewCheckpoints(st)
	if _, ok, err := cps.LoadBound("c|6", 2); ok || err != nil {
		t.Fatalf("absent bound: got ok=%t, %v; want none", ok, err)
	}
	if err := cps.CommitBound("c|6", 2, 123456); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := cps.LoadBound("c|6", 2); got != 123456 || !ok || err != nil {
		t.Errorf("bound: got %d, %t, %v; want 123456", got, ok, err)
	}
	if _, ok, _ := cps.LoadBound("c|6", 3); ok {
		t.Error("the bound of partition 2 was read as partition 3's")
	}
	want := pipeline.TopicIdentity{ClusterID: "q1Sh-9_e", Topic: "jobs", TopicID: [16]byte{1, 2, 3, 15: 9}}
	if err := cps.CommitTopic("c|6", want); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := cps.LoadTopic("c|6"); got != want || !ok || err != nil {
		t.Errorf("topic: got %v, %t, %v; want %v", got, ok, err, want)
	}
	raw, _ := st.Get(pipeline.StateKey{Kind: pipeline.StateBound, Company: "c|6", Name: "2"})
	const pinned = "0180890f" // version 1, varint 123456
	if got := hex.EncodeToString(raw); len(got) != len(pinned)+8 || got[:len(pinned)] != pinned {
		t.Errorf("stored bound: got %s, want %s followed by a checksum", got, pinned)
	}
	raw[1] ^= 1
	key := pipeline.StateKey{Kind: pipeline.StateBound, Company: "c|6", Name: "2"}
	_ = st.Put(key, raw)
	if _, _, err := cps.LoadBound("c|6", 2); !errors.Is(err, pipeline.ErrCorruptState) {
		t.Errorf("damaged bound: got %v, want ErrCorruptState", err)
	}
	if pipeline.VerifyStateValue(key, raw) == nil {
		t.Error("VerifyStateValue accepted a damaged bound")
	}
	topicKey := pipeline.StateKey{Kind: pipeline.StateTopic, Company: "c|6"}
	good, _ := st.Get(topicKey)
	if err := pipeline.VerifyStateValue(topicKey, good); err != nil {
		t.Errorf("VerifyStateValue of a good topic identity: %v", err)
	}
}

func TestCheckTopic(t *testing.T) {
	t1 := pipeline.TopicIdentity{ClusterID: "cluster-a", Topic: "t1", TopicID: [16]byte{1}}
	if err := pipeline.CheckTopic(t1, t1); err != nil {
		t.Errorf("same topic: %v", err)
	}
	for _, c := range []struct {
		name string
		now  pipeline.TopicIdentity
		says string
	}{
		{"another topic", pipeline.TopicIdentity{ClusterID: "cluster-a", Topic: "t2", TopicID: [16]byte{2}}, "another topic"},
		{"re-created", pipeline.TopicIdentity{ClusterID: "cluster-a", Topic: "t1", TopicID: [16]byte{3}}, "deleted and re-created"},
		{"another cluster", pipeline.TopicIdentity{ClusterID: "cluster-b", Topic: "t1", TopicID: [16]byte{1}}, "another cluster"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := pipeline.CheckTopic(t1, c.now)
			if !errors.Is(err, pipeline.ErrTopicChanged) {
				t.Fatalf("got %v, want ErrTopicChanged", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, t1.String()) || !strings.Contains(msg, c.now.String()) || !strings.Contains(msg, c.says) || strings.Contains(msg, "\n") {
				t.Errorf("error %q does not name both topics on one line and say %q", msg, c.says)
			}
		})
	}
}
