// Package metrics defines the Prometheus metrics of the interruptions
// processor: domain metrics fed by the runner's hooks, per-partition gauges
// read from the runner's status at scrape time, and franz-go's client
// metrics (kprom).
//
// One Processor per process, registered on a registry the caller owns
// (nothing is registered on Prometheus' default registry):
//
//	reg := prometheus.NewRegistry()
//	m := metrics.New(reg)
//	cfg.Hooks = append(cfg.Hooks, m)
//	cfg.GroupClientOpts = append(cfg.GroupClientOpts, m.KafkaHooks())
//	r, _ := processor.NewRunner(cfg)
//	m.ObserveRunner(r.Status)
//
// Counters count committed work only: the per-event hooks add to plain
// counters owned by the processing loop, which are added to the Prometheus
// metrics when the transaction (or at-least-once batch) commits and
// discarded when it aborts, so records processed again after an abort are
// not counted twice, and the per-event cost is an array increment.
package metrics

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/processor"
)

// Namespace prefixes every metric name.
const Namespace = "interruptions"

// Label values, in the order of the arrays below.
var (
	// typeNames are the input event types: the kinds the matcher
	// handles, "other" for every other valid type and "invalid" for
	// input that went to the dead-letter topic.
	typeNames   = [...]string{vcc.Interrupted.String(), vcc.Resumed.String(), vcc.Ended.String(), "other", "invalid"}
	resultNames = [...]string{"processed", "ignored", "duplicate", "conflicting_duplicate", "dlq"}
	reasonNames = [...]string{
		string(codec.ReasonNotCloudEvent), string(codec.ReasonInvalidCloudEvent),
		string(codec.ReasonSpecVersion), string(codec.ReasonUnsupportedVersion),
		string(codec.ReasonDataNotObject), string(codec.ReasonInvalidData),
		string(codec.ReasonMissingChannelID), string(codec.ReasonInvalidChannelID), string(codec.ReasonInvalidTimestamp),
		string(codec.ReasonSubjectMismatch), string(codec.ReasonTimestampInFuture), string(codec.ReasonTooLate),
		string(codec.ReasonChannelOverflow), "other",
	}
	outcomeNames = [...]string{"resumed", "ended", "expired"}
	// roleNames are the party roles VCC documents, and "other".
	roleNames = [...]string{vcc.RoleAgent, vcc.RoleExternal, vcc.RoleMonitor, vcc.RoleVoicemail, "other"}
	// actionNames are what the engine did beside placing events: records
	// first published as expired, channels deleted, corrections and
	// retractions published, and the effect of placed events on their
	// timeline when they arrived.
	actionNames = [...]string{"expired", "deleted_channel", "correction", "retraction",
		"interrupted-while-interrupted", "after-end", "resume-without-interruption", "evicted_channel"}
	// phaseNames are the phases of the phase table (match.Phases), in its
	// order.
	phaseNames = [...]string{match.PhaseAlerting, match.PhaseConnected, match.PhaseHeld,
		match.PhaseParked, match.PhaseInterrupted, match.PhaseWrap}
)

// phaseOutcomeName is the outcome label of phase record outcome o, indexed
// by match.Outcome: a retraction has no outcome (0), so it is "retracted".
func phaseOutcomeName(o int) string {
	if o == 0 {
		return "retracted"
	}
	return match.Outcome(o).String()
}

const (
	typeInvalid  = len(typeNames) - 1
	resultDLQ    = len(resultNames) - 1
	reasonOther  = len(reasonNames) - 1
	roleOther    = len(roleNames) - 1
	nTypes       = len(typeNames)
	nResults     = len(resultNames)
	nReasons     = len(reasonNames)
	nOutcomes    = len(outcomeNames)
	nRoles       = len(roleNames)
	nActions     = len(actionNames)
	nFields      = len(codec.IgnoredFieldNames)
	actionExpire = 0
	actionDelete = 1
	nPhases      = len(phaseNames)
	// nPhaseOutcomes indexes phase record outcomes by match.Outcome, 0
	// being the retractions.
	nPhaseOutcomes = int(match.OutcomeDisconnected) + 1
)

// durationBuckets are the interruption duration histogram's upper bounds,
// in seconds: from seconds to the default max-interruption, a day.
var durationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400}

// phaseDurationBuckets are the phase duration histogram's upper bounds,
// in seconds: ring and wrap times of seconds, talk and hold times of
// minutes, up to the default max-phase, a day.
var phaseDurationBuckets = []float64{.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400}

// latencyBuckets are the event-to-output histogram's upper bounds, in
// seconds: commits come every commit interval (100ms by default).
var latencyBuckets = []float64{.01, .025, .05, .1, .2, .3, .5, .75, 1, 2, 5, 10, 30, 60, 300}

// commitBuckets are the commit duration histogram's upper bounds, in
// seconds: a healthy end is a few round trips, a stalled one lasts up to
// the session timeout (45s by default).
var commitBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 20, 30, 45, 60, 120}

// Processor holds the processor's metrics. Its hooks must be used by one
// runner; ObserveRunner adds that runner's status.
type Processor struct {
	reg prometheus.Registerer

	// Children resolved once: the hooks index arrays, no label lookups.
	inputs       [nTypes][nResults]prometheus.Counter
	deadLetters  [nReasons]prometheus.Counter
	records      [nOutcomes]prometheus.Counter
	phaseRecords [nPhases][nPhaseOutcomes]prometheus.Counter
	// phaseDurations exist for the pairs of phaseRecords but retracted.
	phaseDurations [nPhases][nPhaseOutcomes]prometheus.Observer
	housekeeping   [nActions]prometheus.Counter
	identity       [nFields]prometheus.Counter
	durations      [nRoles][nOutcomes]prometheus.Observer
	latency        prometheus.Observer
	commits        prometheus.Counter
	aborts         prometheus.Counter
	restores       prometheus.Observer
	restoreRecs    prometheus.Counter
	idleAdvances   prometheus.Counter
	inFlight       prometheus.Gauge
	paused         prometheus.Observer
	rebalanced     [3]prometheus.Counter  // assigned, revoked, lost
	unitEnds       [2]prometheus.Observer // committed, aborted
	stalls         prometheus.Counter

	// now is the clock of the latency histogram.
	now func() time.Time
	// shards hold what the runner saw since the last commit, by input
	// partition: the event hooks run on the partition workers, one
	// goroutine per partition at a time, and OnCommit / OnAbort on the
	// loop's goroutine once the workers settled.
	shards [nShards]shard
}

// nShards spreads partitions over locks so that workers of different
// partitions rarely share one.
const nShards = 16

// shard is the pending work of the partitions p with p % nShards equal to
// its index.
type shard struct {
	mu sync.Mutex
	p  pending
	_  [64]byte // keep neighbouring shards' locks off one cache line
}

// shard returns partition p's shard, locked.
func (m *Processor) shard(p int32) *shard {
	s := &m.shards[uint32(p)%nShards]
	s.mu.Lock()
	return s
}

// pending counts work not committed yet.
type pending struct {
	inputs       [nTypes][nResults]int
	deadLetters  [nReasons]int
	housekeeping [nActions]int
	identity     [nFields]int
	idleAdvances int
	phases       [nPhases][nPhaseOutcomes]int
	outputs      []output
	phaseOuts    []phaseOutput
}

// phaseOutput is one phase record produced (not a retraction).
type phaseOutput struct {
	phase, outcome uint8
	seconds        float64 // its duration
}

// output is one interruption record produced.
type output struct {
	role, outcome uint8
	seconds       float64 // its duration
	input         int64   // the input record's Kafka timestamp, Unix ns
}

// New creates the processor's metrics and registers them on reg.
func New(reg prometheus.Registerer) *Processor {
	m := &Processor{reg: reg, now: time.Now}
	inputs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "input_events_total",
		Help: "Input records committed, by event type (interrupted, resumed, ended, other, invalid) and result (processed, ignored, duplicate, dlq).",
	}, []string{"type", "result"})
	deadLetters := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "dead_letters_total",
		Help: "Input records sent to the dead-letter topic, by reason (the dlq-reason header).",
	}, []string{"reason"})
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "records_total",
		Help: "Interruption records committed to the output topic, by outcome.",
	}, []string{"outcome"})
	phaseRecords := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "phase_records_total",
		Help: "Phase records committed to the phases topic, by phase and outcome (retracted for retractions); every revision is counted.",
	}, []string{"phase", "outcome"})
	housekeeping := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "housekeeping_total",
		Help: "What the matcher did beside placing events: interruptions first published as expired, channels deleted after retention, corrections and retractions published, and placed events that were an interrupted while interrupted, an interrupted after the end, a resumed without interruption when they arrived.",
	}, []string{"action"})
	identity := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "identity_fields_ignored_total",
		Help: "Identity fields of committed input events read as absent because of their JSON type (party not an object; role, agentId, userId, conversationId or interactionId not a string), by field; the event itself was placed.",
	}, []string{"field"})
	phaseDurations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "phase_duration_seconds",
		Help:    "Durations of the phase records committed (endedAt - startedAt, event time), by phase and outcome; every revision is observed, so a corrected phase counts once per revision, and retractions are not observed.",
		Buckets: phaseDurationBuckets,
	}, []string{"phase", "outcome"})
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "interruption_duration_seconds",
		Help:    "Durations of the interruption records committed (closedAt - interruptedAt, event time), by party role and outcome; every revision is observed, so a corrected interruption counts once per revision.",
		Buckets: durationBuckets,
	}, []string{"role", "outcome"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "event_to_output_seconds",
		Help:    "Wall-clock time from the Kafka timestamp of the input record that closed an interruption to the commit that made its record visible.",
		Buckets: latencyBuckets,
	})
	transactions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "transactions_total",
		Help: "Transactions (exactly-once) or batches (at-least-once) that carried input or an idle advance, by result: committed, aborted.",
	}, []string{"result"})
	restores := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "restore_duration_seconds",
		Help:    "Time to restore one partition's state from the changelog.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 9), // 10ms .. 11min
	})
	restoreRecs := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "restore_records_total",
		Help: "Changelog records read to restore partition state.",
	})
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "restores_in_flight",
		Help: "Partition restores running beside processing now; each partition's fetching is paused until its restore is done.",
	})
	paused := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "partition_paused_seconds",
		Help:    "Time from a partition's assignment until it is processed again: its restore and, under exactly-once, the wait for its previous owner's transaction.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 12), // 50ms .. 102s
	})
	rebalanced := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rebalance_partitions_total",
		Help: "Input partitions the consumer group assigned to this instance, revoked from it or that it lost (kicked out of the group), by change.",
	}, []string{"change"})
	idleAdvances := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "idle_clock_advances_total",
		Help: "Times a partition's clock advanced with wall time because it had no input for --idle-timeout (committed).",
	})
	unitEnds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "commit_duration_seconds",
		Help: "Time to end each unit of work (transaction or at-least-once batch): its flush and commit, or its abort, by result: " +
			"committed, aborted. Commits wait while the group rebalances, for a dead member up to the session timeout.",
		Buckets: commitBuckets,
	}, []string{"result"})
	stalls := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "commit_stalls_total",
		Help: "Units of work whose end (flush and commit, or abort) took longer than the stall bound (Config.CommitStallWarning: by default a quarter of the session timeout, at least 2s); the log says why.",
	})
	reg.MustRegister(inputs, deadLetters, records, phaseRecords, phaseDurations, housekeeping, identity, durations, latency, transactions, restores, restoreRecs, idleAdvances,
		inFlight, paused, rebalanced, unitEnds, stalls)
	m.unitEnds = [2]prometheus.Observer{unitEnds.WithLabelValues("committed"), unitEnds.WithLabelValues("aborted")}
	m.stalls = stalls
	m.idleAdvances = idleAdvances
	m.inFlight, m.paused = inFlight, paused
	for i, c := range [...]string{"assigned", "revoked", "lost"} {
		m.rebalanced[i] = rebalanced.WithLabelValues(c)
	}

	// The combinations that occur: handled types are processed or
	// duplicates (conflicting or not), other types ignored, invalid input
	// dead-lettered.
	for _, c := range [][2]int{{0, 0}, {0, 2}, {0, 3}, {1, 0}, {1, 2}, {1, 3}, {2, 0}, {2, 2}, {2, 3}, {3, 1}, {typeInvalid, resultDLQ}} {
		m.inputs[c[0]][c[1]] = inputs.WithLabelValues(typeNames[c[0]], resultNames[c[1]])
	}
	for i, r := range reasonNames {
		m.deadLetters[i] = deadLetters.WithLabelValues(r)
	}
	for i, o := range outcomeNames {
		m.records[i] = records.WithLabelValues(o)
		for j, r := range roleNames {
			m.durations[j][i] = durations.WithLabelValues(r, o)
		}
	}
	for i, a := range actionNames {
		m.housekeeping[i] = housekeeping.WithLabelValues(a)
	}
	// Every phase's series for the outcomes its table row can publish:
	// its closers', its ends', expired and retracted.
	for _, ph := range match.Phases() {
		i := phaseIndex(ph.Name)
		if i < 0 {
			continue
		}
		resolve := func(o int) {
			m.phaseRecords[i][o] = phaseRecords.WithLabelValues(ph.Name, phaseOutcomeName(o))
			if o != 0 {
				m.phaseDurations[i][o] = phaseDurations.WithLabelValues(ph.Name, phaseOutcomeName(o))
			}
		}
		for _, o := range ph.Close {
			resolve(int(o))
		}
		for _, o := range ph.End {
			resolve(int(o))
		}
		resolve(int(match.OutcomeExpired))
		resolve(0)
	}
	for i, f := range codec.IgnoredFieldNames {
		m.identity[i] = identity.WithLabelValues(f)
	}
	m.latency = latency
	m.commits = transactions.WithLabelValues("committed")
	m.aborts = transactions.WithLabelValues("aborted")
	m.restores = restores
	m.restoreRecs = restoreRecs
	return m
}

// Processor is a processor.Hook: its On* methods feed the domain metrics.
var _ interface {
	processor.HookEvent
	processor.HookDeadLetter
	processor.HookHousekeeping
	processor.HookOutput
	processor.HookPhase
	processor.HookCommit
	processor.HookAbort
	processor.HookRestore
	processor.HookIdleAdvance
	processor.HookRebalance
	processor.HookRestoring
	processor.HookResume
	processor.HookUnitEnd
} = (*Processor)(nil)

// OnEvent implements processor.HookEvent.
func (m *Processor) OnEvent(part int32, ev *match.Event, d match.Disposition) {
	t := 3 // other
	switch ev.Kind {
	case vcc.Interrupted:
		t = 0
	case vcc.Resumed:
		t = 1
	case vcc.Ended:
		t = 2
	}
	r := 0
	switch d {
	case match.Ignored:
		r = 1
	case match.Duplicate:
		r = 2
	case match.ConflictingDuplicate:
		r = 3
	}
	s := m.shard(part)
	s.p.inputs[t][r]++
	for i := range nFields {
		if ev.IgnoredIdentity&(1<<i) != 0 {
			s.p.identity[i]++
		}
	}
	s.mu.Unlock()
}

// OnDeadLetter implements processor.HookDeadLetter.
func (m *Processor) OnDeadLetter(part int32, err *codec.DecodeError) {
	reason := reasonIndex(err.Reason)
	s := m.shard(part)
	s.p.inputs[typeInvalid][resultDLQ]++
	s.p.deadLetters[reason]++
	s.mu.Unlock()
}

func reasonIndex(r codec.Reason) int {
	for i, name := range reasonNames[:reasonOther] {
		if string(r) == name {
			return i
		}
	}
	return reasonOther
}

// OnHousekeeping implements processor.HookHousekeeping.
func (m *Processor) OnHousekeeping(part int32, hk match.Housekeeping) {
	s := m.shard(part)
	for i, n := range [nActions]int{hk.Expired, hk.Deleted, hk.Corrections, hk.Retractions,
		hk.InterruptedWhileInterrupted, hk.AfterEnd, hk.ResumeWithoutInterruption, hk.Evicted} {
		s.p.housekeeping[i] += n
	}
	s.mu.Unlock()
}

// OnOutput implements processor.HookOutput: it observes every published
// revision of an interruption (a corrected interruption is counted once per
// revision); retractions are counted as housekeeping only.
func (m *Processor) OnOutput(part int32, in *match.Interruption, input time.Time) {
	if in.Retracted {
		return
	}
	o := 0
	switch in.Outcome {
	case match.OutcomeEnded:
		o = 1
	case match.OutcomeExpired:
		o = 2
	}
	out := output{
		role:    roleIndex(in.Party.Role),
		outcome: uint8(o),
		seconds: float64(in.ClosedAt-in.InterruptedAt) / 1e9,
		input:   input.UnixNano(),
	}
	s := m.shard(part)
	s.p.outputs = append(s.p.outputs, out)
	s.mu.Unlock()
}

// OnPhase implements processor.HookPhase: it counts every published
// revision of a phase, and its retractions, by phase and outcome, and
// observes the duration of each revision. A phase or an outcome outside
// the phase table is not counted.
func (m *Processor) OnPhase(part int32, in *match.Interruption) {
	ph := phaseIndex(in.Phase)
	o := int(in.Outcome)
	if in.Retracted {
		o = 0
	}
	if ph < 0 || o >= nPhaseOutcomes || (o == 0 && !in.Retracted) {
		return
	}
	s := m.shard(part)
	s.p.phases[ph][o]++
	if !in.Retracted {
		// The record's durationMs, in seconds.
		ms := match.Millis(in.ClosedAt) - match.Millis(in.InterruptedAt)
		s.p.phaseOuts = append(s.p.phaseOuts, phaseOutput{phase: uint8(ph), outcome: uint8(o), seconds: float64(ms) / 1e3})
	}
	s.mu.Unlock()
}

// phaseIndex returns the index of phase name in phaseNames, or -1.
func phaseIndex(name string) int {
	for i, n := range phaseNames {
		if n == name {
			return i
		}
	}
	return -1
}

func roleIndex(role string) uint8 {
	for i, name := range roleNames[:roleOther] {
		if role == name {
			return uint8(i)
		}
	}
	return uint8(roleOther)
}

// OnCommit implements processor.HookCommit: it adds what the committed
// transaction covered.
func (m *Processor) OnCommit(int) {
	var total pending
	now := m.now().UnixNano()
	var outcomes [nOutcomes]int
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		total.add(&s.p)
		for _, o := range s.p.outputs {
			outcomes[o.outcome]++
			m.durations[o.role][o.outcome].Observe(o.seconds)
			if o.input > 0 {
				m.latency.Observe(max(0, float64(now-o.input)/1e9))
			}
		}
		for _, o := range s.p.phaseOuts {
			if obs := m.phaseDurations[o.phase][o.outcome]; obs != nil {
				obs.Observe(o.seconds)
			}
		}
		s.p.reset()
		s.mu.Unlock()
	}
	for t := range nTypes {
		for r := range nResults {
			if n := total.inputs[t][r]; n > 0 && m.inputs[t][r] != nil {
				m.inputs[t][r].Add(float64(n))
			}
		}
	}
	for i, n := range total.deadLetters {
		if n > 0 {
			m.deadLetters[i].Add(float64(n))
		}
	}
	for i, n := range total.housekeeping {
		if n > 0 {
			m.housekeeping[i].Add(float64(n))
		}
	}
	for i, n := range total.identity {
		if n > 0 {
			m.identity[i].Add(float64(n))
		}
	}
	for i, n := range outcomes {
		if n > 0 {
			m.records[i].Add(float64(n))
		}
	}
	for ph := range nPhases {
		for o, n := range total.phases[ph] {
			if n > 0 && m.phaseRecords[ph][o] != nil {
				m.phaseRecords[ph][o].Add(float64(n))
			}
		}
	}
	if total.idleAdvances > 0 {
		m.idleAdvances.Add(float64(total.idleAdvances))
	}
	m.commits.Inc()
}

// OnIdleAdvance implements processor.HookIdleAdvance.
func (m *Processor) OnIdleAdvance(part int32, _ int64) {
	s := m.shard(part)
	s.p.idleAdvances++
	s.mu.Unlock()
}

// OnAbort implements processor.HookAbort: it forgets what the aborted
// transaction covered, which is processed (and counted) again.
func (m *Processor) OnAbort(records int) {
	if records > 0 {
		m.aborts.Inc()
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.p.reset()
		s.mu.Unlock()
	}
}

// add adds o's counts (not its outputs) to p.
func (p *pending) add(o *pending) {
	for t := range nTypes {
		for r := range nResults {
			p.inputs[t][r] += o.inputs[t][r]
		}
	}
	for i, n := range o.deadLetters {
		p.deadLetters[i] += n
	}
	for i, n := range o.housekeeping {
		p.housekeeping[i] += n
	}
	for i, n := range o.identity {
		p.identity[i] += n
	}
	p.idleAdvances += o.idleAdvances
	for ph := range nPhases {
		for i, n := range o.phases[ph] {
			p.phases[ph][i] += n
		}
	}
}

// reset empties p, keeping the outputs' storage.
func (p *pending) reset() {
	*p = pending{outputs: p.outputs[:0], phaseOuts: p.phaseOuts[:0]}
}

// OnRestore implements processor.HookRestore.
func (m *Processor) OnRestore(_ int32, records int, took time.Duration) {
	m.restoreRecs.Add(float64(records))
	m.restores.Observe(took.Seconds())
}

// OnRestoring implements processor.HookRestoring.
func (m *Processor) OnRestoring(inFlight int) { m.inFlight.Set(float64(inFlight)) }

// OnResume implements processor.HookResume.
func (m *Processor) OnResume(_ int32, paused time.Duration) { m.paused.Observe(paused.Seconds()) }

// OnUnitEnd implements processor.HookUnitEnd.
func (m *Processor) OnUnitEnd(took time.Duration, committed, stalled bool) {
	r := 1
	if committed {
		r = 0
	}
	m.unitEnds[r].Observe(took.Seconds())
	if stalled {
		m.stalls.Inc()
	}
}

// OnRebalance implements processor.HookRebalance.
func (m *Processor) OnRebalance(assigned, revoked, lost []int32) {
	m.rebalanced[0].Add(float64(len(assigned)))
	m.rebalanced[1].Add(float64(len(revoked)))
	m.rebalanced[2].Add(float64(len(lost)))
}

// KafkaHooks returns the option that adds franz-go's client metrics (kprom,
// names interruptions_kafka_*) to the group client: connections, bytes,
// records and batches produced and fetched per topic, request latency per
// broker, buffered records. Pass it in processor.Config.GroupClientOpts: a
// client registers the metrics when created and removes them when closed,
// so only one client at a time may use it.
func (m *Processor) KafkaHooks() kgo.Opt {
	return kgo.WithHooks(kprom.NewMetrics(Namespace,
		kprom.Subsystem("kafka"),
		kprom.Registerer(replacing{m.reg}),
		kprom.FetchAndProduceDetail(kprom.ByNode, kprom.ByTopic, kprom.Records, kprom.Batches,
			kprom.UncompressedBytes, kprom.ConsistentNaming),
		kprom.Histograms(kprom.RequestDurationE2E),
	))
}

// replacing registers collectors, replacing one already registered under
// the same descriptors instead of panicking: a group client rebuilt after a
// failure registers kprom's metrics again, and must not crash the process
// if the old client's are still there.
type replacing struct{ prometheus.Registerer }

func (r replacing) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err)
			}
			r.Unregister(are.ExistingCollector)
			if err := r.Register(c); err != nil {
				panic(err)
			}
		}
	}
}

// ObserveRunner registers the gauges read from the runner's status at each
// scrape: readiness, assigned and restoring partitions, and per owned
// partition the open interruptions, held closes, channels, stream time, the
// oldest open interruption's age in stream time and the consumer lag.
func (m *Processor) ObserveRunner(status func() processor.Status) {
	m.reg.MustRegister(&statusCollector{status: status, now: m.now})
}

type statusCollector struct {
	status func() processor.Status
	now    func() time.Time
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	readyDesc     = desc("ready", "1 when the processor is in its group with every assigned partition restored and processing (as /readyz), else 0.")
	assignedDesc  = desc("partitions_assigned", "Input partitions assigned to this instance.")
	restoringDesc = desc("partitions_restoring", "Assigned input partitions whose state is not restored yet.")
	openDesc      = desc("open_interruptions", "Interruptions open (not yet closed), as of the partition's last commit.", "partition")
	heldDesc      = desc("held_closes", "Closed or expired interruptions held back for their --grace period, not published yet, as of the partition's last commit.", "partition")
	channelsDesc  = desc("channels", "Channels held in the partition's state.", "partition")
	streamDesc    = desc("stream_time_seconds", "The partition's stream time (its clock): the largest data.timestamp seen, or later after an idle advance, Unix seconds.", "partition")
	clockLagDesc  = desc("clock_lag_seconds", "Wall time minus the partition's stream time, as of its last commit: how far the partition's clock is behind now.", "partition")
	oldestDesc    = desc("oldest_open_interruption_age_seconds", "Stream time minus the interruptedAt of the partition's oldest open interruption; 0 when none is open.", "partition")
	lagDesc       = desc("consumer_lag_records", "Input records after the last one fetched (high watermark, or last stable offset under exactly-once), at the last fetch.", "partition")
)

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{readyDesc, assignedDesc, restoringDesc, openDesc, heldDesc, channelsDesc, streamDesc, clockLagDesc, oldestDesc, lagDesc} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.status()
	ready := 0.0
	if s.Ready {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, ready)
	ch <- prometheus.MustNewConstMetric(assignedDesc, prometheus.GaugeValue, float64(s.Assigned))
	ch <- prometheus.MustNewConstMetric(restoringDesc, prometheus.GaugeValue, float64(s.Restoring))
	for _, p := range s.Partitions {
		l := strconv.Itoa(int(p.Partition))
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l)
		}
		gauge(openDesc, float64(p.Open))
		gauge(heldDesc, float64(p.Held))
		gauge(channelsDesc, float64(p.Channels))
		gauge(streamDesc, float64(p.StreamTime)/1e9)
		if p.StreamTime != 0 {
			gauge(clockLagDesc, float64(c.now().UnixNano()-p.StreamTime)/1e9)
		}
		age := 0.0
		if p.HasOpen && p.StreamTime > p.OldestOpen {
			age = float64(p.StreamTime-p.OldestOpen) / 1e9
		}
		gauge(oldestDesc, age)
		if p.Lag >= 0 {
			gauge(lagDesc, float64(p.Lag))
		}
	}
}
