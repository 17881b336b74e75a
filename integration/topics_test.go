package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestMissingTopics: with --create-topics=false the processor exits non-zero
// naming the first missing topic and creates nothing; allowed to create
// them, it creates every missing topic with --partitions and
// --replication-factor, the changelog compacted with the input's partition
// count.
func TestMissingTopics(t *testing.T) {
	t.Run("not-allowed", func(t *testing.T) {
		h := setup(t)
		for _, step := range []struct {
			name    string
			missing string
			before  func()
		}{
			{"no-topics", h.Input, func() {}},
			{"input-only", h.Output, func() { h.createTopic(h.Input, 2) }},
		} {
			step.before()
			start := time.Now()
			p := h.startRun("run-"+step.name, "--create-topics=false")
			code := p.wait(30 * time.Second)
			stderr := p.stderr.String()
			if code != 1 {
				t.Errorf("%s: exit code %d after %s, want 1", step.name, code, time.Since(start).Round(time.Millisecond))
			}
			if !strings.Contains(stderr, `topic \"`+step.missing+`\" does not exist`) &&
				!strings.Contains(stderr, `topic "`+step.missing+`" does not exist`) {
				t.Errorf("%s: stderr does not say that topic %q does not exist:\n%s", step.name, step.missing, stderr)
			}
			// The last stderr line is the one a person reads first.
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, step.missing) {
				t.Errorf("%s: last stderr line does not name %q: %s", step.name, step.missing, last)
			}
		}
		td := h.topics(h.Output, h.DLQ, h.Changelog())
		for _, name := range []string{h.Output, h.DLQ, h.Changelog()} {
			if d, ok := td[name]; ok && d.Err == nil {
				t.Errorf("topic %s was created although --create-topics=false", name)
			}
		}
	})

	t.Run("created", func(t *testing.T) {
		h := setup(t)
		p := h.startRun("run", "--partitions", "4", "--replication-factor", "1")
		h.waitTopics(p, map[string]int{h.Input: 4, h.Output: 4, h.DLQ: 4, h.Changelog(): 4})
		h.waitFor("the processor to start", 50*time.Millisecond, []*proc{p}, func() (bool, error) {
			return strings.Contains(p.stderr.String(), "processor starting"), nil
		})
		p.stopClean()
		h.checkTopics(map[string]int{h.Input: 4, h.Output: 4, h.DLQ: 4, h.Changelog(): 4})
	})

	t.Run("changelog-follows-input", func(t *testing.T) {
		h := setup(t)
		h.createTopic(h.Input, 2)
		p := h.startRun("run", "--partitions", "4", "--replication-factor", "1")
		h.waitTopics(p, map[string]int{h.Output: 4, h.DLQ: 4, h.Changelog(): 2})
		h.waitFor("the processor to start", 50*time.Millisecond, []*proc{p}, func() (bool, error) {
			return strings.Contains(p.stderr.String(), "processor starting"), nil
		})
		p.stopClean()
		h.checkTopics(map[string]int{h.Input: 2, h.Output: 4, h.DLQ: 4, h.Changelog(): 2})
	})
}

// topics describes topics through the admin client.
func (h *harness) topics(names ...string) kadm.TopicDetails {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	// WithAuthorizedOps bypasses kadm's metadata cache, which keeps
	// "unknown topic" answers for 5s.
	td, err := h.adm.ListTopics(kadm.WithAuthorizedOps(ctx), names...)
	must(h.t, "list topics", err)
	return td
}

// waitTopics waits until every topic exists with its partition count.
func (h *harness) waitTopics(p *proc, want map[string]int) {
	h.t.Helper()
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	h.waitFor("the topics to be created", 100*time.Millisecond, []*proc{p}, func() (bool, error) {
		ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
		defer cancel()
		td, err := h.adm.ListTopics(kadm.WithAuthorizedOps(ctx), names...)
		if err != nil {
			return false, err
		}
		for n, parts := range want {
			if d, ok := td[n]; !ok || d.Err != nil || len(d.Partitions) != parts {
				return false, nil
			}
		}
		return true, nil
	})
}

// checkTopics checks partition counts, one replica per partition, and a
// compacted changelog.
func (h *harness) checkTopics(want map[string]int) {
	h.t.Helper()
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	td := h.topics(names...)
	for n, parts := range want {
		d, ok := td[n]
		if !ok || d.Err != nil {
			h.t.Errorf("topic %s: missing (%v)", n, d.Err)
			continue
		}
		if len(d.Partitions) != parts {
			h.t.Errorf("topic %s: %d partitions, want %d", n, len(d.Partitions), parts)
		}
		for _, pd := range d.Partitions {
			if len(pd.Replicas) != 1 {
				h.t.Errorf("topic %s[%d]: replicas %v, want 1", n, pd.Partition, pd.Replicas)
			}
		}
	}
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	rcs, err := h.adm.DescribeTopicConfigs(ctx, h.Changelog(), h.Output)
	must(h.t, "describe topic configs", err)
	for _, rc := range rcs {
		must(h.t, "config of "+rc.Name, rc.Err)
		policy := ""
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				policy = *c.Value
			}
		}
		want := "delete"
		if rc.Name == h.Changelog() {
			want = "compact"
		}
		if policy != want {
			h.t.Errorf("topic %s: cleanup.policy %q, want %q", rc.Name, policy, want)
		}
	}
}
