package schemas

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/vccgen"
)

func compile(t *testing.T) *Set {
	t.Helper()
	s, err := Compile()
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

// seedPage is the channel.resumed.v0 example from VCC's documentation
// (docs/seed-channel.resumed.v0.txt), verbatim.
const seedPage = testkit.SeedResumed

const agentEvent = `{"specversion":"1.0","type":"agent.presencechanged.v0","id":"37pVShlKReJprPFi49DSMeWeiRW","source":"/agent","subject":"9975","time":"2026-01-05T08:00:00.5465745Z","datacontenttype":"application/json","data":{"timestamp":"2026-01-05T08:00:00.000Z","agent":{"agentId":"9975","userId":"1a3d1e60-1c11-4a0b-9d1a-8567d1b67dac","presence":"Available"}}}`

const outputResumed = `{
  "specversion": "1.0",
  "type": "channel.interruptionended.v0",
  "source": "/interruptions",
  "subject": "740109c1-12d5-430f-9543-131fe5c4edcb",
  "id": "0b9f6f0e-6a57-4d59-9d1f-0d8f0a4f1c3e",
  "time": "2022-08-30T14:34:36.5120000Z",
  "datacontenttype": "application/json",
  "data": {
    "interruptionId": "740109c1-12d5-430f-9543-131fe5c4edcb/2Zks0Q6mWbYyGv8wV5Qy4nW3Z7k",
    "revision": 1,
    "channelId": "740109c1-12d5-430f-9543-131fe5c4edcb",
    "conversationId": "3e71f453-116a-3abc-7769-bc678ef6e080",
    "interactionId": "1371f451-116a-4abc-8869-bc678ef67070",
    "party": {"role": "agent", "agentId": "1544", "userId": "ef71f453-556a-3abc-7769-bc678ef6e090"},
    "outcome": "resumed",
    "interruptedAt": "2022-08-30T14:29:01.250Z",
    "closedAt": "2022-08-30T14:34:36.088Z",
    "durationMs": 334838,
    "openedBy": {"id": "2Zks0Q6mWbYyGv8wV5Qy4nW3Z7k", "type": "channel.interrupted.v1"},
    "closedBy": {"id": "2Zks0VJxXAegKlhmHygjlZRwu0F", "type": "channel.resumed.v0"}
  }
}`

// edit returns doc (JSON) with the value at the dotted path replaced by
// value, or deleted when value is remove.
func edit(t *testing.T, doc, path string, value any) []byte {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatalf("test document: %v", err)
	}
	keys := strings.Split(path, ".")
	obj := root
	for _, k := range keys[:len(keys)-1] {
		next, ok := obj[k].(map[string]any)
		if !ok {
			t.Fatalf("path %s: %s is not an object", path, k)
		}
		obj = next
	}
	last := keys[len(keys)-1]
	if value == remove {
		if _, ok := obj[last]; !ok {
			t.Fatalf("path %s does not exist", path)
		}
		delete(obj, last)
	} else {
		obj[last] = value
	}
	out, err := json.Marshal(root)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return out
}

// remove marks a member to delete in edit.
var remove = &struct{ name string }{"remove"}

func TestGeneratedEventsAreValidInput(t *testing.T) {
	s := compile(t)
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for _, seed := range []int64{1, 2} {
		byType := map[string]int{}
		for _, e := range vccgen.New(vccgen.Config{Seed: seed}).Take(n) {
			if err := s.ValidateInput(e.Value); err != nil {
				t.Fatalf("seed %d, seq %d: %v\n%s", seed, e.Seq, err, e.Value)
			}
			byType[e.Source]++
		}
		if byType[vccgen.SourceChannel] == 0 || byType[vccgen.SourceAgent] == 0 {
			t.Fatalf("sample lacks channel or agent events: %v", byType)
		}
	}
}

func TestInput(t *testing.T) {
	s := compile(t)
	tests := []struct {
		name    string
		doc     []byte
		wantErr bool
		unknown bool   // wants ErrUnknownType rather than a schema violation
		want    string // a fragment the error must contain: where or why it failed
	}{
		{name: "seed page", doc: []byte(seedPage)},
		{name: "agent event", doc: []byte(agentEvent)},
		{name: "v1 type", doc: edit(t, seedPage, "type", "channel.interrupted.v1")},
		{name: "ended with reason", doc: edit(t, seedPage, "data.reason", "released")},
		{name: "without optional time", doc: edit(t, seedPage, "time", remove)},
		{name: "external party without ids", doc: edit(t, seedPage, "data.channel.party", map[string]any{"role": "external"})},
		{name: "unknown extension member is allowed", doc: edit(t, seedPage, "traceparent", "00-abc")},

		{name: "missing channelId", doc: edit(t, seedPage, "data.channel.channelId", remove), wantErr: true, want: "missing property 'channelId'"},
		{name: "empty channelId", doc: edit(t, seedPage, "data.channel.channelId", ""), wantErr: true, want: "/data/channel/channelId"},
		{name: "missing timestamp", doc: edit(t, seedPage, "data.timestamp", remove), wantErr: true, want: "missing property 'timestamp'"},
		{name: "timestamp not RFC 3339", doc: edit(t, seedPage, "data.timestamp", "2022-08-30 14:34:36.088"), wantErr: true, want: "/data/timestamp"},
		{name: "timestamp month 13", doc: edit(t, seedPage, "data.timestamp", "2022-13-30T14:34:36.088Z"), wantErr: true, want: "month out of range"},
		{name: "timestamp is a number", doc: edit(t, seedPage, "data.timestamp", 1661870076088), wantErr: true, want: "/data/timestamp"},
		{name: "bad time", doc: edit(t, seedPage, "time", "yesterday"), wantErr: true, want: "/time"},
		{name: "wrong specversion", doc: edit(t, seedPage, "specversion", "0.3"), wantErr: true, want: "/specversion"},
		{name: "specversion as number", doc: edit(t, seedPage, "specversion", 1.0), wantErr: true, want: "/specversion"},
		{name: "empty id", doc: edit(t, seedPage, "id", ""), wantErr: true, want: "/id"},
		{name: "missing subject", doc: edit(t, seedPage, "subject", remove), wantErr: true, want: "missing property 'subject'"},
		{name: "type without version", doc: edit(t, seedPage, "type", "channel.resumed"), wantErr: true, want: "/type"},
		{name: "type with capitals", doc: edit(t, seedPage, "type", "channel.Resumed.v0"), wantErr: true, want: "/type"},
		{name: "unknown role", doc: edit(t, seedPage, "data.channel.party.role", "supervisor"), wantErr: true, want: "/data/channel/party/role"},
		{name: "missing party", doc: edit(t, seedPage, "data.channel.party", remove), wantErr: true, want: "missing property 'party'"},
		{name: "missing conversationId", doc: edit(t, seedPage, "data.channel.conversationId", remove), wantErr: true, want: "missing property 'conversationId'"},
		{name: "channel not an object", doc: edit(t, seedPage, "data.channel", "740109c1"), wantErr: true, want: "/data/channel"},
		{name: "missing data", doc: edit(t, seedPage, "data", remove), wantErr: true, want: "missing property 'data'"},
		{name: "reason not a string", doc: edit(t, seedPage, "data.reason", 3), wantErr: true, want: "/data/reason"},
		{name: "agent event without data", doc: edit(t, agentEvent, "data", remove), wantErr: true, want: "missing property 'data'"},
		{name: "agent event wrong specversion", doc: edit(t, agentEvent, "specversion", "2.0"), wantErr: true, want: "/specversion"},
		{name: "unknown type prefix", doc: edit(t, seedPage, "type", "conversation.started.v0"), wantErr: true, unknown: true, want: "conversation.started.v0"},
		{name: "missing type", doc: edit(t, seedPage, "type", remove), wantErr: true, unknown: true, want: "neither channel"},
		{name: "not JSON", doc: []byte(`{"specversion":`), wantErr: true, want: "invalid JSON"},
		{name: "trailing data", doc: []byte(seedPage + `{}`), wantErr: true, want: "trailing data"},
		{name: "array", doc: []byte(`[]`), wantErr: true, unknown: true, want: "neither channel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.ValidateInput(tc.doc)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ValidateInput error = %v, want error %v\n%s", err, tc.wantErr, tc.doc)
			}
			if err == nil {
				return
			}
			if !strings.HasPrefix(err.Error(), "schemas: input") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should start with %q and contain %q", err, "schemas: input", tc.want)
			}
			if tc.unknown != errors.Is(err, ErrUnknownType) {
				t.Errorf("errors.Is(err, ErrUnknownType) = %v, want %v: %v", !tc.unknown, tc.unknown, err)
			}
			var verr *jsonschema.ValidationError
			wantSchemaErr := !tc.unknown && tc.want != "invalid JSON" && tc.want != "trailing data"
			if errors.As(err, &verr) != wantSchemaErr {
				t.Errorf("wraps *jsonschema.ValidationError = %v, want %v: %v", !wantSchemaErr, wantSchemaErr, err)
			}
		})
	}
}

func TestOutput(t *testing.T) {
	s := compile(t)
	expired := edit(t, string(edit(t, outputResumed, "data.outcome", "expired")), "data.closedBy", remove)
	tests := []struct {
		name    string
		doc     []byte
		wantErr bool
		want    string // a fragment the error must contain: where or why it failed
	}{
		{name: "resumed", doc: []byte(outputResumed)},
		{name: "ended", doc: edit(t, string(edit(t, outputResumed, "data.outcome", "ended")), "data.closedBy.type", "channel.ended.v1")},
		{name: "expired without closedBy", doc: expired},
		{name: "zero duration", doc: edit(t, outputResumed, "data.durationMs", 0)},
		{name: "external party without ids", doc: edit(t, outputResumed, "data.party", map[string]any{"role": "external"})},

		{name: "negative durationMs", doc: edit(t, outputResumed, "data.durationMs", -1), wantErr: true, want: "/data/durationMs"},
		{name: "fractional durationMs", doc: edit(t, outputResumed, "data.durationMs", 1.5), wantErr: true, want: "/data/durationMs"},
		{name: "durationMs as string", doc: edit(t, outputResumed, "data.durationMs", "334838"), wantErr: true, want: "/data/durationMs"},
		{name: "extra field in data", doc: edit(t, outputResumed, "data.agentName", "Ann"), wantErr: true, want: "'agentName' not allowed"},
		{name: "extra field in party", doc: edit(t, outputResumed, "data.party.name", "Ann"), wantErr: true, want: "'name' not allowed"},
		{name: "extra field in closedBy", doc: edit(t, outputResumed, "data.closedBy.source", "/channel"), wantErr: true, want: "'source' not allowed"},
		{name: "expired with closedBy", doc: edit(t, outputResumed, "data.outcome", "expired"), wantErr: true, want: "'not' failed"},
		{name: "resumed without closedBy", doc: edit(t, outputResumed, "data.closedBy", remove), wantErr: true, want: "missing property 'closedBy'"},
		{name: "ended without closedBy", doc: edit(t, string(edit(t, outputResumed, "data.outcome", "ended")), "data.closedBy", remove), wantErr: true, want: "missing property 'closedBy'"},
		{name: "unknown outcome", doc: edit(t, outputResumed, "data.outcome", "cancelled"), wantErr: true, want: "/data/outcome"},
		{name: "closedAt with 7 fractional digits", doc: edit(t, outputResumed, "data.closedAt", "2022-08-30T14:34:36.0880000Z"), wantErr: true, want: "/data/closedAt"},
		{name: "interruptedAt without fraction", doc: edit(t, outputResumed, "data.interruptedAt", "2022-08-30T14:29:01Z"), wantErr: true, want: "/data/interruptedAt"},
		{name: "interruptedAt with offset", doc: edit(t, outputResumed, "data.interruptedAt", "2022-08-30T16:29:01.250+02:00"), wantErr: true, want: "/data/interruptedAt"},
		{name: "closedAt impossible date", doc: edit(t, outputResumed, "data.closedAt", "2022-02-30T14:34:36.088Z"), wantErr: true, want: "day out of range"},
		{name: "missing openedBy", doc: edit(t, outputResumed, "data.openedBy", remove), wantErr: true, want: "missing property 'openedBy'"},
		{name: "openedBy without type", doc: edit(t, outputResumed, "data.openedBy.type", remove), wantErr: true, want: "missing property 'type'"},
		{name: "missing interruptionId", doc: edit(t, outputResumed, "data.interruptionId", remove), wantErr: true, want: "missing property 'interruptionId'"},
		{name: "party without role", doc: edit(t, outputResumed, "data.party.role", remove), wantErr: true, want: "missing property 'role'"},
		{name: "wrong type", doc: edit(t, outputResumed, "type", "channel.interruptionended.v1"), wantErr: true, want: "/type"},
		{name: "wrong datacontenttype", doc: edit(t, outputResumed, "datacontenttype", "text/plain"), wantErr: true, want: "/datacontenttype"},
		{name: "wrong specversion", doc: edit(t, outputResumed, "specversion", "1.1"), wantErr: true, want: "/specversion"},
		{name: "missing time", doc: edit(t, outputResumed, "time", remove), wantErr: true, want: "missing property 'time'"},
		{name: "bad time", doc: edit(t, outputResumed, "time", "2022-08-30"), wantErr: true, want: "/time"},
		{name: "missing subject", doc: edit(t, outputResumed, "subject", remove), wantErr: true, want: "missing property 'subject'"},
		{name: "not JSON", doc: []byte(`{"data":`), wantErr: true, want: "invalid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.ValidateOutput(tc.doc)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ValidateOutput error = %v, want error %v\n%s", err, tc.wantErr, tc.doc)
			}
			if err == nil {
				return
			}
			if !strings.HasPrefix(err.Error(), "schemas: output") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should start with %q and contain %q", err, "schemas: output", tc.want)
			}
			if tc.want != "invalid JSON" {
				var verr *jsonschema.ValidationError
				if !errors.As(err, &verr) {
					t.Errorf("error does not wrap a *jsonschema.ValidationError: %v", err)
				}
			}
		})
	}
}

func TestValidationErrorNamesTheProblem(t *testing.T) {
	s := compile(t)
	err := s.ValidateOutput(edit(t, outputResumed, "data.durationMs", -5))
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error %v does not wrap a *jsonschema.ValidationError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "/data/durationMs") || !strings.Contains(msg, "0b9f6f0e-6a57-4d59-9d1f-0d8f0a4f1c3e") {
		t.Errorf("error should name the record id and the failing location: %v", msg)
	}
}

func TestSource(t *testing.T) {
	for _, name := range []string{ChannelEventFile, AgentEventFile, InterruptionEndedFile, InterruptionRetractedFile, ChannelPhaseFile, ChannelPhaseRetractedFile} {
		raw, err := Source(name)
		if err != nil {
			t.Fatalf("Source(%s): %v", name, err)
		}
		var doc struct {
			Schema string `json:"$schema"`
			ID     string `json:"$id"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc.Schema != "https://json-schema.org/draft/2020-12/schema" || doc.ID != baseURL+name {
			t.Errorf("%s: $schema %q, $id %q", name, doc.Schema, doc.ID)
		}
	}
	if _, err := Source("missing.json"); err == nil {
		t.Error("Source of a missing file succeeded")
	}
}

func TestSetIsSafeForConcurrentUse(t *testing.T) {
	s := compile(t)
	events := vccgen.New(vccgen.Config{Seed: 3}).Take(400)
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := w; i < len(events); i += 4 {
				if err := s.ValidateInput(events[i].Value); err != nil {
					errs <- err
					return
				}
				if err := s.ValidateOutput([]byte(outputResumed)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// phaseHeld is a channel.phase.v0 record as the spec of issue 25 shows it:
// a held phase closed by channel.retrieved.
const phaseHeld = `{
  "specversion": "1.0",
  "type": "channel.phase.v0",
  "source": "/interruptions",
  "subject": "740109c1-12d5-430f-9543-131fe5c4edcb",
  "id": "5f0c3f5e-2d0b-5b8e-9a57-3f1c0d2e7a11",
  "time": "2022-08-30T14:35:01.002Z",
  "datacontenttype": "application/json",
  "data": {
    "phaseId": "9a1f6c2e-7b3d-5e4f-8a21-0c9d8e7f6a54",
    "revision": 1,
    "phase": "held",
    "channelId": "740109c1-12d5-430f-9543-131fe5c4edcb",
    "conversationId": "3e71f453-116a-3abc-7769-bc678ef6e080",
    "interactionId": "1371f451-116a-4abc-8869-bc678ef67070",
    "party": {"role": "agent", "agentId": "1544", "userId": "ef71f453-556a-3abc-7769-bc678ef6e090"},
    "outcome": "retrieved",
    "startedAt": "2022-08-30T14:34:36.088Z",
    "endedAt": "2022-08-30T14:35:01.002Z",
    "durationMs": 24914,
    "openedBy": {"id": "2Zks0Q6mWbYyGv8wV5Qy4nW3Z7k", "type": "channel.held.v0"},
    "closedBy": {"id": "2Zks0VJxXAegKlhmHygjlZRwu0F", "type": "channel.retrieved.v0"}
  }
}`

// phaseRetracted is a channel.phaseretracted.v0 record of the phase above.
const phaseRetracted = `{
  "specversion": "1.0",
  "type": "channel.phaseretracted.v0",
  "source": "/interruptions",
  "subject": "740109c1-12d5-430f-9543-131fe5c4edcb",
  "id": "0d6e1a9b-3c4f-5a2b-8e7d-6f5a4b3c2d1e",
  "time": "2022-08-30T14:34:36.088Z",
  "datacontenttype": "application/json",
  "data": {
    "phaseId": "9a1f6c2e-7b3d-5e4f-8a21-0c9d8e7f6a54",
    "revision": 2,
    "phase": "held",
    "channelId": "740109c1-12d5-430f-9543-131fe5c4edcb",
    "reason": "after-end",
    "startedAt": "2022-08-30T14:34:36.088Z",
    "openedBy": {"id": "2Zks0Q6mWbYyGv8wV5Qy4nW3Z7k", "type": "channel.held.v0"}
  }
}`

// phaseOutcomes is the phase table of issue 25's spec, written out: for
// each phase, the event type that opens it and, for each outcome it can
// have, the type of the event that closes it ("" for expired). The ends:
// channel.ended gives ended everywhere; channel.disconnected gives
// disconnected, except for interrupted (ended) and wrap (ignored).
var phaseOutcomes = map[string]struct {
	opener   string
	outcomes map[string]string
}{
	"alerting": {"channel.alerted.v0", map[string]string{
		"connected": "channel.connected.v0", "failed": "channel.connectionfailed.v0",
		"ended": "channel.ended.v0", "disconnected": "channel.disconnected.v0", "expired": ""}},
	"connected": {"channel.connected.v1", map[string]string{
		"wrap":  "channel.wrapstarted.v0",
		"ended": "channel.ended.v0", "disconnected": "channel.disconnected.v0", "expired": ""}},
	"held": {"channel.held.v0", map[string]string{
		"retrieved": "channel.retrieved.v0",
		"ended":     "channel.ended.v0", "disconnected": "channel.disconnected.v0", "expired": ""}},
	"parked": {"channel.parked.v0", map[string]string{
		"unparked": "channel.unparked.v0",
		"ended":    "channel.ended.v0", "disconnected": "channel.disconnected.v0", "expired": ""}},
	"interrupted": {"channel.interrupted.v1", map[string]string{
		"resumed": "channel.resumed.v0", "ended": "channel.disconnected.v0", "expired": ""}},
	"wrap": {"channel.wrapstarted.v0", map[string]string{
		"ended": "channel.ended.v0", "expired": ""}},
}

// allOutcomes is every outcome the spec names.
var allOutcomes = []string{"connected", "failed", "wrap", "retrieved", "unparked", "resumed", "ended", "disconnected", "expired"}

// phaseRecord is phaseHeld turned into a record of phase with outcome,
// opened by opener and closed by an event of type closer (no closedBy when
// closer is "").
func phaseRecord(t *testing.T, phase, outcome, opener, closer string) []byte {
	t.Helper()
	doc := string(edit(t, phaseHeld, "data.phase", phase))
	doc = string(edit(t, doc, "data.outcome", outcome))
	doc = string(edit(t, doc, "data.openedBy.type", opener))
	if closer == "" {
		return edit(t, doc, "data.closedBy", remove)
	}
	return edit(t, doc, "data.closedBy.type", closer)
}

// checkPhaseErr checks what ValidatePhase returned for a test case.
func checkPhaseErr(t *testing.T, err error, doc []byte, wantErr bool, want string) {
	t.Helper()
	if (err != nil) != wantErr {
		t.Fatalf("ValidatePhase error = %v, want error %v\n%s", err, wantErr, doc)
	}
	if err == nil {
		return
	}
	if !strings.HasPrefix(err.Error(), "schemas: phase") || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q should start with %q and contain %q", err, "schemas: phase", want)
	}
	if want != "invalid JSON" {
		var verr *jsonschema.ValidationError
		if !errors.As(err, &verr) {
			t.Errorf("error does not wrap a *jsonschema.ValidationError: %v", err)
		}
	}
}

// TestPhaseEveryPhaseAndOutcome: every phase with every outcome the spec
// allows it validates (closedBy present exactly when not expired); every
// other pairing of a phase and an outcome of the spec fails on the outcome.
func TestPhaseEveryPhaseAndOutcome(t *testing.T) {
	s := compile(t)
	seen := map[string]bool{}
	for phase, p := range phaseOutcomes {
		for _, outcome := range allOutcomes {
			closer, allowed := p.outcomes[outcome]
			if !allowed {
				closer = "channel.ended.v0"
			}
			seen[outcome] = seen[outcome] || allowed
			t.Run(phase+"/"+outcome, func(t *testing.T) {
				doc := phaseRecord(t, phase, outcome, p.opener, closer)
				checkPhaseErr(t, s.ValidatePhase(doc), doc, !allowed, "/data/outcome")
			})
		}
	}
	for _, o := range allOutcomes {
		if !seen[o] {
			t.Errorf("outcome %s is allowed for no phase", o)
		}
	}
	if len(phaseOutcomes) != 6 {
		t.Errorf("%d phases in the table, want 6", len(phaseOutcomes))
	}
}

func TestPhase(t *testing.T) {
	s := compile(t)
	expired := phaseRecord(t, "held", "expired", "channel.held.v0", "")
	tests := []struct {
		name    string
		doc     []byte
		wantErr bool
		want    string // a fragment the error must contain: where or why it failed
	}{
		{name: "held retrieved", doc: []byte(phaseHeld)},
		{name: "expired without closedBy", doc: expired},
		{name: "zero duration", doc: edit(t, phaseHeld, "data.durationMs", 0)},
		{name: "later revision", doc: edit(t, phaseHeld, "data.revision", 7)},
		{name: "external party without ids", doc: edit(t, phaseHeld, "data.party", map[string]any{"role": "external"})},
		{name: "empty role", doc: edit(t, phaseHeld, "data.party", map[string]any{"role": ""})},

		{name: "wrong type", doc: edit(t, phaseHeld, "type", "channel.phase.v1"), wantErr: true, want: "/type"},
		{name: "interruption type", doc: edit(t, phaseHeld, "type", "channel.interruptionended.v0"), wantErr: true, want: "/type"},
		{name: "unknown phase", doc: edit(t, phaseHeld, "data.phase", "ringing"), wantErr: true, want: "/data/phase"},
		{name: "phase with capitals", doc: edit(t, phaseHeld, "data.phase", "Held"), wantErr: true, want: "/data/phase"},
		{name: "missing phase", doc: edit(t, phaseHeld, "data.phase", remove), wantErr: true, want: "missing property 'phase'"},
		{name: "unknown outcome", doc: edit(t, phaseHeld, "data.outcome", "cancelled"), wantErr: true, want: "/data/outcome"},
		{name: "missing outcome", doc: edit(t, phaseHeld, "data.outcome", remove), wantErr: true, want: "missing property 'outcome'"},
		{name: "expired with closedBy", doc: edit(t, phaseHeld, "data.outcome", "expired"), wantErr: true, want: "'not' failed"},
		{name: "retrieved without closedBy", doc: edit(t, phaseHeld, "data.closedBy", remove), wantErr: true, want: "missing property 'closedBy'"},
		{name: "ended without closedBy", doc: edit(t, string(edit(t, phaseHeld, "data.outcome", "ended")), "data.closedBy", remove), wantErr: true, want: "missing property 'closedBy'"},
		{name: "revision 0", doc: edit(t, phaseHeld, "data.revision", 0), wantErr: true, want: "/data/revision"},
		{name: "revision as string", doc: edit(t, phaseHeld, "data.revision", "1"), wantErr: true, want: "/data/revision"},
		{name: "negative durationMs", doc: edit(t, phaseHeld, "data.durationMs", -1), wantErr: true, want: "/data/durationMs"},
		{name: "fractional durationMs", doc: edit(t, phaseHeld, "data.durationMs", 1.5), wantErr: true, want: "/data/durationMs"},
		{name: "endedAt with 7 fractional digits", doc: edit(t, phaseHeld, "data.endedAt", "2022-08-30T14:35:01.0020000Z"), wantErr: true, want: "/data/endedAt"},
		{name: "startedAt without fraction", doc: edit(t, phaseHeld, "data.startedAt", "2022-08-30T14:34:36Z"), wantErr: true, want: "/data/startedAt"},
		{name: "startedAt with offset", doc: edit(t, phaseHeld, "data.startedAt", "2022-08-30T16:34:36.088+02:00"), wantErr: true, want: "/data/startedAt"},
		{name: "endedAt impossible date", doc: edit(t, phaseHeld, "data.endedAt", "2022-02-30T14:35:01.002Z"), wantErr: true, want: "day out of range"},
		{name: "startedAt as Unix millis", doc: edit(t, phaseHeld, "data.startedAt", 1661870076088), wantErr: true, want: "/data/startedAt"},
		{name: "bad time", doc: edit(t, phaseHeld, "time", "2022-08-30"), wantErr: true, want: "/time"},
		{name: "extra field in data", doc: edit(t, phaseHeld, "data.agentName", "Ann"), wantErr: true, want: "'agentName' not allowed"},
		{name: "interruption field in data", doc: edit(t, phaseHeld, "data.interruptedAt", "2022-08-30T14:34:36.088Z"), wantErr: true, want: "'interruptedAt' not allowed"},
		{name: "extra field in party", doc: edit(t, phaseHeld, "data.party.name", "Ann"), wantErr: true, want: "'name' not allowed"},
		{name: "extra field in openedBy", doc: edit(t, phaseHeld, "data.openedBy.source", "/channel"), wantErr: true, want: "'source' not allowed"},
		{name: "missing phaseId", doc: edit(t, phaseHeld, "data.phaseId", remove), wantErr: true, want: "missing property 'phaseId'"},
		{name: "missing startedAt", doc: edit(t, phaseHeld, "data.startedAt", remove), wantErr: true, want: "missing property 'startedAt'"},
		{name: "missing endedAt", doc: edit(t, phaseHeld, "data.endedAt", remove), wantErr: true, want: "missing property 'endedAt'"},
		{name: "missing openedBy", doc: edit(t, phaseHeld, "data.openedBy", remove), wantErr: true, want: "missing property 'openedBy'"},
		{name: "closedBy without id", doc: edit(t, phaseHeld, "data.closedBy.id", remove), wantErr: true, want: "missing property 'id'"},
		{name: "party without role", doc: edit(t, phaseHeld, "data.party.role", remove), wantErr: true, want: "missing property 'role'"},
		{name: "wrong datacontenttype", doc: edit(t, phaseHeld, "datacontenttype", "text/plain"), wantErr: true, want: "/datacontenttype"},
		{name: "wrong specversion", doc: edit(t, phaseHeld, "specversion", "1.1"), wantErr: true, want: "/specversion"},
		{name: "missing subject", doc: edit(t, phaseHeld, "subject", remove), wantErr: true, want: "missing property 'subject'"},
		{name: "not JSON", doc: []byte(`{"data":`), wantErr: true, want: "invalid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkPhaseErr(t, s.ValidatePhase(tc.doc), tc.doc, tc.wantErr, tc.want)
		})
	}
}

func TestPhaseRetracted(t *testing.T) {
	s := compile(t)
	tests := []struct {
		name    string
		doc     []byte
		wantErr bool
		want    string // a fragment the error must contain: where or why it failed
	}{
		{name: "after-end", doc: []byte(phaseRetracted)},
		{name: "opened-while-open", doc: edit(t, phaseRetracted, "data.reason", "opened-while-open")},
		{name: "reopened", doc: edit(t, phaseRetracted, "data.reason", "reopened")},
		{name: "wrap phase", doc: edit(t, phaseRetracted, "data.phase", "wrap")},
		{name: "alerting phase", doc: edit(t, phaseRetracted, "data.phase", "alerting")},

		{name: "wrong type", doc: edit(t, phaseRetracted, "type", "channel.phaseretracted.v1"), wantErr: true, want: "/type"},
		{name: "interruption retraction type", doc: edit(t, phaseRetracted, "type", "channel.interruptionretracted.v0"), wantErr: true, want: "/type"},
		{name: "unknown reason", doc: edit(t, phaseRetracted, "data.reason", "interrupted-while-interrupted"), wantErr: true, want: "/data/reason"},
		{name: "missing reason", doc: edit(t, phaseRetracted, "data.reason", remove), wantErr: true, want: "missing property 'reason'"},
		{name: "unknown phase", doc: edit(t, phaseRetracted, "data.phase", "talking"), wantErr: true, want: "/data/phase"},
		{name: "missing phase", doc: edit(t, phaseRetracted, "data.phase", remove), wantErr: true, want: "missing property 'phase'"},
		{name: "revision 1", doc: edit(t, phaseRetracted, "data.revision", 1), wantErr: true, want: "/data/revision"},
		{name: "revision 0", doc: edit(t, phaseRetracted, "data.revision", 0), wantErr: true, want: "/data/revision"},
		{name: "startedAt with 6 fractional digits", doc: edit(t, phaseRetracted, "data.startedAt", "2022-08-30T14:34:36.088000Z"), wantErr: true, want: "/data/startedAt"},
		{name: "bad time", doc: edit(t, phaseRetracted, "time", "now"), wantErr: true, want: "/time"},
		{name: "outcome is not a retraction's", doc: edit(t, phaseRetracted, "data.outcome", "ended"), wantErr: true, want: "'outcome' not allowed"},
		{name: "extra field in openedBy", doc: edit(t, phaseRetracted, "data.openedBy.source", "/channel"), wantErr: true, want: "'source' not allowed"},
		{name: "missing openedBy", doc: edit(t, phaseRetracted, "data.openedBy", remove), wantErr: true, want: "missing property 'openedBy'"},
		{name: "missing phaseId", doc: edit(t, phaseRetracted, "data.phaseId", remove), wantErr: true, want: "missing property 'phaseId'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkPhaseErr(t, s.ValidatePhase(tc.doc), tc.doc, tc.wantErr, tc.want)
		})
	}
}
