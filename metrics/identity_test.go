package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
)

// TestIdentityFieldsIgnoredCounted: events decoded from bytes with
// wrong-typed identity fields add one per such field to
// interruptions_identity_fields_ignored_total{field}, by field, once
// committed; an aborted transaction's are not counted, and well-typed
// events count nothing. The oracle is the inputs: which fields each one
// carries with the wrong type, written by hand.
func TestIdentityFieldsIgnoredCounted(t *testing.T) {
	decodeWith := func(changes ...func(testkit.Event)) match.Event {
		t.Helper()
		ev, err := cekafka.Decode(testkit.StructuredValue(t, testkit.NewEvent("channel.resumed.v0").With(changes...)), nil)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		return ev
	}
	numericAgent := decodeWith(testkit.Set("data.channel.party.agentId", 1544))
	stringParty := decodeWith(testkit.Set("data.channel.party", "agent"))
	ids := decodeWith(testkit.Set("data.channel.conversationId", 1), testkit.Set("data.channel.interactionId", []any{}),
		testkit.Set("data.channel.party.role", true), testkit.Set("data.channel.party.userId", map[string]any{}))
	clean := decodeWith()

	reg := prometheus.NewRegistry()
	m := New(reg)
	const name = "interruptions_identity_fields_ignored_total"
	all := map[string]float64{"party": 0, "role": 0, "agentId": 0, "userId": 0, "conversationId": 0, "interactionId": 0}
	check := func(want map[string]float64) {
		t.Helper()
		for field := range all {
			must(t, reg, want[field], name, "field", field)
		}
	}

	// Aborted: counted again when processed again, not now.
	m.OnEvent(0, &numericAgent, match.Processed)
	m.OnAbort(1)
	m.OnCommit(0)
	check(nil)

	m.OnEvent(0, &numericAgent, match.Processed)
	m.OnEvent(3, &numericAgent, match.Duplicate) // a redelivery read the same way
	m.OnEvent(1, &stringParty, match.Processed)
	m.OnEvent(2, &ids, match.Processed)
	m.OnEvent(2, &clean, match.Processed)
	check(nil) // nothing before the commit
	m.OnCommit(5)
	check(map[string]float64{"agentId": 2, "party": 1, "role": 1, "userId": 1, "conversationId": 1, "interactionId": 1})
}
