package processor

import (
	"fmt"

	"github.com/interruptions/interruptions/state"
)

// PartitionStatus is one owned input partition as of its last commit.
type PartitionStatus struct {
	Partition int32
	state.Stats
	// Lag is the number of input records after the last one fetched
	// (the high watermark, or the last stable offset under exactly-once,
	// minus the next offset) at the last fetch; -1 before any fetch.
	Lag int64
	// Committed is the next input offset as of the last commit: the
	// first record the committed state has not seen.
	Committed int64
}

// Status is a snapshot of the runner, safe to take from any goroutine.
type Status struct {
	// Ready: in the group, every assigned partition's state restored,
	// and no failure since the last commit (health.go). Reason says why
	// not, or what is processed.
	Ready  bool
	Reason string
	// Assigned input partitions; Restoring of them wait for their state.
	Assigned, Restoring int
	// Partitions are the restored partitions, in order.
	Partitions []PartitionStatus
	// RestoringPartitions are the assigned partitions not restored yet,
	// in order.
	RestoringPartitions []int32
}

// Ready reports whether the runner can process and store now: started and
// not stopping, no failure since its last commit (a unit of work that
// failed or could not produce its records, a client restarting after a
// failure; or abortOnlyLimit aborts in a row), in the group, and every
// partition assigned to it restored. It gives a short reason when it is
// not.
func (r *Runner) Ready() (bool, string) { return r.readiness(r.tm.snapshot()) }

// readiness is Ready for the task manager's snapshot a.
func (r *Runner) readiness(a assignment) (bool, string) {
	switch {
	case !r.started.Load():
		return false, "not started"
	case r.stopping.Load():
		return false, "shutting down"
	}
	// A failure since the last commit: the client may be restarting, or
	// commits keep failing (health.go).
	if why := r.health.notReady(); why != "" {
		return false, why
	}
	if !a.joined {
		return false, "not in consumer group " + r.cfg.Group + " yet"
	}
	if n := len(a.restoring); n > 0 {
		return false, fmt.Sprintf("restoring the state of %d of %d assigned partitions", n, a.assigned)
	}
	return true, fmt.Sprintf("processing %d partitions", a.assigned)
}

// Status returns a snapshot of readiness and of the owned partitions.
func (r *Runner) Status() Status {
	a := r.tm.snapshot()
	s := Status{Assigned: a.assigned, Restoring: len(a.restoring), Partitions: a.partitions, RestoringPartitions: a.restoring}
	s.Ready, s.Reason = r.readiness(a)
	return s
}
