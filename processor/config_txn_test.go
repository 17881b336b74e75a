package processor_test

import (
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/processor"
)

// checkOnly fails unless err is nil (want empty) or is exactly one problem
// that says every string of want.
func checkOnly(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted, want an error saying %q", want)
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != 1 {
		t.Errorf("error %q: %d problems, want one", msg, n)
	}
}

// TestConfigTransactionTimeout: the default is 10s; under exactly-once the
// transaction timeout must be at least the commit interval plus 5s and at
// most the session timeout (both bounds inclusive, one nanosecond past
// either refused with a sentence naming both settings and values), never
// above 15m (the broker's default transaction.max.timeout.ms) and never
// zero. At-least-once has no transaction: the relations do not apply.
func TestConfigTransactionTimeout(t *testing.T) {
	if d := processor.DefaultConfig().TransactionTimeout; d != 10*time.Second {
		t.Errorf("default transaction timeout %s, want 10s", d)
	}
	const ns = time.Nanosecond
	for _, tc := range []struct {
		name                 string
		guarantee            processor.Guarantee
		txn, commit, session time.Duration
		want                 []string
	}{
		{"defaults", processor.ExactlyOnce, 10 * time.Second, 100 * time.Millisecond, 45 * time.Second, nil},
		{"commit interval plus 5s exactly", processor.ExactlyOnce, 5*time.Second + 100*time.Millisecond, 100 * time.Millisecond, 45 * time.Second, nil},
		{"a nanosecond under commit interval plus 5s", processor.ExactlyOnce, 5*time.Second + 100*time.Millisecond - ns, 100 * time.Millisecond, 45 * time.Second,
			[]string{"transaction-timeout and commit-interval", "transaction-timeout 5.099999999s", "commit-interval 100ms plus 5s"}},
		{"commit interval as long as the timeout", processor.ExactlyOnce, 10 * time.Second, 10 * time.Second, 45 * time.Second,
			[]string{"transaction-timeout and commit-interval", "transaction-timeout 10s", "commit-interval 10s"}},
		{"equal to the session timeout", processor.ExactlyOnce, 6 * time.Second, 20 * time.Millisecond, 6 * time.Second, nil},
		{"a nanosecond over the session timeout", processor.ExactlyOnce, 6*time.Second + ns, 20 * time.Millisecond, 6 * time.Second,
			[]string{"transaction-timeout and session-timeout", "transaction-timeout 6.000000001s", "session-timeout 6s"}},
		{"the default against a 6s session", processor.ExactlyOnce, 10 * time.Second, 100 * time.Millisecond, 6 * time.Second,
			[]string{"transaction-timeout and session-timeout", "session-timeout 6s"}},
		{"15m, the broker's default maximum", processor.ExactlyOnce, 15 * time.Minute, 100 * time.Millisecond, 30 * time.Minute, nil},
		{"over 15m", processor.ExactlyOnce, 15*time.Minute + ns, 100 * time.Millisecond, 30 * time.Minute,
			[]string{"transaction-timeout: 15m0.000000001s is longer than 15m", "transaction.max.timeout.ms"}},
		{"zero", processor.AtLeastOnce, 0, 100 * time.Millisecond, 45 * time.Second, []string{"transaction-timeout: must be positive"}},
		{"at-least-once: no relation to the commit interval", processor.AtLeastOnce, 10 * time.Second, 30 * time.Second, 45 * time.Second, nil},
		{"at-least-once: no relation to the session timeout", processor.AtLeastOnce, 10 * time.Second, 100 * time.Millisecond, 6 * time.Second, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := processor.DefaultConfig()
			cfg.Guarantee, cfg.TransactionTimeout, cfg.CommitInterval, cfg.SessionTimeout = tc.guarantee, tc.txn, tc.commit, tc.session
			checkOnly(t, cfg.Validate(), tc.want)
		})
	}
}

// TestConfigInstanceID: the instance id is optional (empty by default:
// dynamic membership); when set it must pass Kafka's rule for
// group.instance.id: at most 249 of a-z A-Z 0-9 . _ -, not "." or "..".
// A Kubernetes pod name passes.
func TestConfigInstanceID(t *testing.T) {
	if id := processor.DefaultConfig().InstanceID; id != "" {
		t.Errorf("default instance id %q, want empty", id)
	}
	bad := []string{"instance-id", "not a valid group.instance.id"}
	for _, tc := range []struct {
		id   string
		want []string
	}{
		{"", nil},
		{"interruptions-7d9f8b6c4-x2x9q", nil},
		{"interruptions-0.eu_west-1", nil},
		{strings.Repeat("a", 249), nil},
		{strings.Repeat("a", 250), bad},
		{".", bad},
		{"..", bad},
		{"...", nil},
		{"pod 1", append(bad, `"pod 1"`)},
		{"pod/1", bad},
		{"pod:1", bad},
		{"pödé", bad},
	} {
		t.Run(tc.id, func(t *testing.T) {
			cfg := processor.DefaultConfig()
			cfg.InstanceID = tc.id
			checkOnly(t, cfg.Validate(), tc.want)
		})
	}
}
