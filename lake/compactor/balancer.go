package compactor

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicBalancer is a consumer group balancer that gives every partition of
// a topic to the same member, so that one compactor writes each lake table
// (commits never race each other) and sees every partition's truncate
// record. Topics go to the member with the fewest partitions so far, in
// topic name order, so the assignment is deterministic.
type topicBalancer struct{}

var _ kgo.GroupBalancer = topicBalancer{}

// ProtocolName names the protocol; every member of the group must use it.
func (topicBalancer) ProtocolName() string { return "tributary-topic" }

// IsCooperative is false: every rebalance revokes everything.
func (topicBalancer) IsCooperative() bool { return false }

// JoinGroupMetadata returns the member's subscription.
func (topicBalancer) JoinGroupMetadata(interests []string, _ map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	return meta.AppendTo(nil)
}

// ParseSyncAssignment decodes the member's assignment.
func (topicBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

// MemberBalancer returns the balancer the group leader runs.
func (b topicBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	if err != nil {
		return nil, nil, err
	}
	return cb, cb.MemberTopics(), nil
}

// Balance assigns whole topics.
func (topicBalancer) Balance(cb *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	plan := cb.NewPlan()
	members := cb.Members()
	load := make([]int, len(members))
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	slices.Sort(names)
	for _, t := range names {
		best := -1
		for i := range members {
			_, meta := cb.MemberAt(i)
			if !slices.Contains(meta.Topics, t) {
				continue
			}
			if best < 0 || load[i] < load[best] {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		parts := make([]int32, topics[t])
		for p := range parts {
			parts[p] = int32(p)
		}
		member, _ := cb.MemberAt(best)
		plan.AddPartitions(member, t, parts)
		load[best] += len(parts)
	}
	return plan
}
