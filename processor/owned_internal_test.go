package processor

import (
	"context"
	"slices"
	"testing"

	"go.uber.org/zap"
)

// TestOwnedLeavesOutRevokedTasks: after a revoke, a partition's task stays
// until the loop's next settle point drops it, and the partition is
// another member's from the revoke on: owned (which the state API's
// NotOwnedError uses to tell this instance's partitions from the others')
// lists the partitions assigned and the tasks kept, not the revoked ones.
func TestOwnedLeavesOutRevokedTasks(t *testing.T) {
	cfg := DefaultConfig()
	h := newHooks(nil)
	m := newTaskManager(&cfg, zap.NewNop(), &h, nil)
	for _, p := range []int32{0, 1, 2, 3} {
		m.tasks[p] = &task{partition: p}
		m.assigned[p] = struct{}{}
	}
	m.onRevoked(context.Background(), nil, map[string][]int32{cfg.InputTopic: {2, 3}})
	if got, want := m.owned(), []int32{0, 1}; !slices.Equal(got, want) {
		t.Fatalf("owned after revoking 2 and 3 (tasks not dropped yet) = %v, want %v", got, want)
	}
	m.assigned[5] = struct{}{} // assigned, restoring: no task yet
	if got, want := m.owned(), []int32{0, 1, 5}; !slices.Equal(got, want) {
		t.Fatalf("owned with 5 assigned = %v, want %v", got, want)
	}
}
