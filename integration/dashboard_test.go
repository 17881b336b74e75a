package integration

// The compose stack's monitoring, proven with real parts instead of a
// container engine: Debian's prometheus runs docker/prometheus/prometheus.yml
// (only the target addresses rewritten) against a real `interruptions run`
// fed by `interruptions gen`, loads docker/prometheus/alerts.yml, and
// answers every query of the Grafana dashboard; promtool checks the
// configuration and runs the alert rules' unit tests.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/interruptions/interruptions/internal/testkit"
	"gopkg.in/yaml.v3"
)

// Files of the compose stack, relative to the repository root.
const (
	promConfigFile = "docker/prometheus/prometheus.yml"
	alertsFile     = "docker/prometheus/alerts.yml"
	alertsTestFile = "docker/prometheus/alerts_test.yml"
	dashboardFile  = "docker/grafana/dashboards/interruptions.json"
	datasourceFile = "docker/grafana/provisioning/datasources/prometheus.yml"
)

// promTool returns the path of a command of Debian's prometheus package
// (prometheus, promtool). When it is missing the test fails saying how to
// install it, or skips under -short.
func promTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if testing.Short() {
		t.Skipf("%s is not installed (skipped with -short)", name)
	}
	t.Fatalf("%s is not installed: run scripts/deps (or `apt-get install prometheus`: the Debian package "+
		"provides prometheus and promtool), then run the tests again; go test -short skips this test", name)
	return ""
}

// repoFile is a file of the repository by its path from the root.
func repoFile(rel string) string { return filepath.Join(repoRoot, filepath.FromSlash(rel)) }

// runTool runs a command to completion (at most a minute) and returns its
// combined output; it fails the test on a non-zero exit.
func runTool(t *testing.T, dir, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// alertRules is the part of a Prometheus rule file the tests read.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readAlertRules(t *testing.T) alertRules {
	t.Helper()
	b, err := os.ReadFile(repoFile(alertsFile))
	must(t, "read alert rules", err)
	var r alertRules
	must(t, "parse "+alertsFile, yaml.Unmarshal(b, &r))
	if len(r.Groups) == 0 {
		t.Fatalf("%s: no rule groups", alertsFile)
	}
	return r
}

// TestDashboardAlertRules checks the Prometheus configuration and alert
// rules of the compose stack with promtool (check config, check rules, and
// the unit tests of alerts_test.yml), and that every alert has a severity,
// a summary and a description, a unit test that makes it fire, and a row
// in the README's table of alerts. It needs promtool, not a broker.
func TestDashboardAlertRules(t *testing.T) {
	promtool := promTool(t, "promtool")
	dir := repoFile("docker/prometheus")
	// check config also checks the rule files it references.
	t.Log(runTool(t, dir, promtool, "check", "config", filepath.Base(promConfigFile)))
	t.Log(runTool(t, dir, promtool, "check", "rules", filepath.Base(alertsFile)))
	t.Log(runTool(t, dir, promtool, "test", "rules", filepath.Base(alertsTestFile)))

	rules := readAlertRules(t)
	b, err := os.ReadFile(repoFile(alertsTestFile))
	must(t, "read alert tests", err)
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	must(t, "parse "+alertsTestFile, yaml.Unmarshal(b, &tests))
	if len(tests.RuleFiles) != 1 || tests.RuleFiles[0] != filepath.Base(alertsFile) {
		t.Errorf("%s tests rule_files %v, want [%s]", alertsTestFile, tests.RuleFiles, filepath.Base(alertsFile))
	}
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	readme, err := os.ReadFile(repoFile("README.md"))
	must(t, "read README", err)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: needs a summary and a description annotation", r.Alert)
			}
			if !fires[r.Alert] {
				t.Errorf("alert %s: no test in %s makes it fire", r.Alert, alertsTestFile)
			}
			if !strings.Contains(string(readme), "`"+r.Alert+"`") {
				t.Errorf("alert %s is not documented in README.md", r.Alert)
			}
		}
	}
	t.Logf("%d alerts: promtool checks and unit tests pass", n)
}

// promClient queries a Prometheus server's HTTP API.
type promClient struct {
	addr string
	http http.Client
}

// get GETs /api/v1/PATH with the query parameters and decodes the data of
// a successful answer into data; an error answer is returned as an error.
func (c *promClient) get(path string, params url.Values, data any) error {
	u := "http://" + c.addr + "/api/v1/" + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	resp, err := c.http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %d, %v", path, resp.StatusCode, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, body.ErrorType, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// promSeries is one series of an instant query's answer.
type promSeries struct {
	Metric map[string]string
	Value  float64
}

// query runs an instant query; a scalar answer is one series without
// labels.
func (c *promClient) query(q string) ([]promSeries, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := c.get("query", url.Values{"query": {q}}, &data); err != nil {
		return nil, err
	}
	parse := func(v [2]any) (float64, error) {
		s, ok := v[1].(string)
		if !ok {
			return 0, fmt.Errorf("value %v", v)
		}
		return strconv.ParseFloat(s, 64)
	}
	switch data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &vec); err != nil {
			return nil, err
		}
		out := make([]promSeries, len(vec))
		for i, s := range vec {
			v, err := parse(s.Value)
			if err != nil {
				return nil, err
			}
			out[i] = promSeries{s.Metric, v}
		}
		return out, nil
	case "scalar":
		var s [2]any
		if err := json.Unmarshal(data.Result, &s); err != nil {
			return nil, err
		}
		v, err := parse(s)
		return []promSeries{{Value: v}}, err
	default:
		return nil, fmt.Errorf("result type %s, want vector or scalar", data.ResultType)
	}
}

// scalar runs a query expected to answer one number; ok is false when it
// answers nothing.
func (c *promClient) scalar(q string) (v float64, ok bool, err error) {
	s, err := c.query(q)
	if err != nil || len(s) == 0 {
		return 0, false, err
	}
	if len(s) > 1 {
		return 0, false, fmt.Errorf("%s: %d series, want one", q, len(s))
	}
	return s[0].Value, true, nil
}

// promWaitFor polls cond every 200ms until it holds; it fails the test after
// d, or when the Prometheus process exits.
func promWaitFor(t *testing.T, prom *promProc, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	testkit.Poll(t, d, 200*time.Millisecond, what, prom.done, func() string {
		return fmt.Sprintf("prometheus exited (%v)", prom.err)
	}, cond)
}

// promProc is a running prometheus server.
type promProc struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error
}

// startPrometheus runs prometheus with the config file, its storage in dir,
// listening on addr. It is killed in t.Cleanup; its log is logged when the
// test failed.
func startPrometheus(t *testing.T, bin, config, dir, addr string) *promProc {
	t.Helper()
	p := &promProc{done: make(chan struct{})}
	p.cmd = exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	// Killed with the test process too (a -timeout panic skips t.Cleanup).
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() || os.Getenv("INTEGRATION_LOGS") != "" {
			t.Logf("prometheus %s\nexit: %v\n--- log\n%s", strings.Join(p.cmd.Args[1:], " "), p.err, tail(p.out.String()))
		}
	})
	return p
}

// testPromConfig writes the compose stack's prometheus.yml to dir with the
// target of each job replaced by targets[job] (every job must have one) and
// the rule files made absolute; it returns the file's path and the global
// scrape interval.
func testPromConfig(t *testing.T, dir string, targets map[string]string) (string, time.Duration) {
	t.Helper()
	b, err := os.ReadFile(repoFile(promConfigFile))
	must(t, "read prometheus config", err)
	var cfg map[string]any
	must(t, "parse "+promConfigFile, yaml.Unmarshal(b, &cfg))
	global, _ := cfg["global"].(map[string]any)
	interval, err := time.ParseDuration(fmt.Sprint(global["scrape_interval"]))
	if err != nil {
		t.Fatalf("%s: global scrape_interval: %v", promConfigFile, err)
	}
	rules, _ := cfg["rule_files"].([]any)
	for i, r := range rules {
		rules[i] = filepath.Join(filepath.Dir(repoFile(promConfigFile)), fmt.Sprint(r))
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	seen := map[string]bool{}
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		name := fmt.Sprint(job["job_name"])
		target, ok := targets[name]
		if !ok {
			t.Fatalf("%s: job %q: the test does not know what to scrape for it", promConfigFile, name)
		}
		if _, interval := job["scrape_interval"]; interval {
			t.Logf("job %s has its own scrape_interval", name)
		}
		job["static_configs"] = []any{map[string]any{"targets": []any{target}}}
		seen[name] = true
	}
	for name := range targets {
		if !seen[name] {
			t.Fatalf("%s: no job %q", promConfigFile, name)
		}
	}
	out, err := yaml.Marshal(cfg)
	must(t, "marshal prometheus config", err)
	path := filepath.Join(dir, "prometheus.yml")
	must(t, "write prometheus config", os.WriteFile(path, out, 0o644))
	return path, interval
}

// dashboardQuery is one query of a dashboard panel.
type dashboardQuery struct {
	Panel      string // title
	RefID      string
	Expr       string
	Datasource string // uid
}

// dashboardQueries returns every target of every panel (rows included) of
// the dashboard, and the dashboard's time range.
func dashboardQueries(t *testing.T) ([]dashboardQuery, time.Duration) {
	t.Helper()
	b, err := os.ReadFile(repoFile(dashboardFile))
	must(t, "read dashboard", err)
	type ds struct {
		UID string `json:"uid"`
	}
	type panel struct {
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource *ds    `json:"datasource"`
		Targets    []struct {
			RefID      string `json:"refId"`
			Expr       string `json:"expr"`
			Datasource *ds    `json:"datasource"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		Time struct {
			From string `json:"from"`
			To   string `json:"to"`
		} `json:"time"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
		Panels []json.RawMessage `json:"panels"`
	}
	must(t, "parse "+dashboardFile, json.Unmarshal(b, &dash))
	if len(dash.Templating.List) > 0 {
		t.Fatalf("%s has template variables %v: give the test values for them", dashboardFile, dash.Templating.List)
	}
	var out []dashboardQuery
	var walk func(raw []json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			must(t, "parse panel", json.Unmarshal(r, &p))
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				q := dashboardQuery{Panel: p.Title, RefID: tg.RefID, Expr: tg.Expr}
				switch {
				case tg.Datasource != nil:
					q.Datasource = tg.Datasource.UID
				case p.Datasource != nil:
					q.Datasource = p.Datasource.UID
				}
				out = append(out, q)
			}
		}
	}
	walk(dash.Panels)
	m := regexp.MustCompile(`^now-(\d+[smhdw])$`).FindStringSubmatch(dash.Time.From)
	if m == nil || dash.Time.To != "now" {
		t.Fatalf("%s: time range %s to %s: the test knows now-DURATION to now", dashboardFile, dash.Time.From, dash.Time.To)
	}
	rng, err := parsePromDuration(m[1])
	must(t, "dashboard time range", err)
	return out, rng
}

// parsePromDuration parses a Prometheus duration of one unit (30s, 5m, 1d).
func parsePromDuration(s string) (time.Duration, error) {
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	if len(s) < 2 {
		return 0, fmt.Errorf("duration %q", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	u, ok := units[s[len(s)-1]]
	if err != nil || !ok {
		return 0, fmt.Errorf("duration %q", s)
	}
	return time.Duration(n) * u, nil
}

// grafanaVar matches Grafana's global variables: $__name or ${__name}.
var grafanaVar = regexp.MustCompile(`\$\{?(__[a-z_]+)\}?`)

// grafanaVars are the values Grafana gives its global variables on the
// dashboard, with the data source's minimum interval (its timeInterval,
// the scrape interval) as $__interval: the smallest Grafana uses, so the
// most demanding for range selectors.
func grafanaVars(minInterval, rng time.Duration) map[string]string {
	sec := func(d time.Duration) string { return fmt.Sprintf("%ds", int64(d/time.Second)) }
	// Grafana: max($__interval + scrape interval, 4 × scrape interval).
	rate := max(minInterval+minInterval, 4*minInterval)
	return map[string]string{
		"__interval":      sec(minInterval),
		"__interval_ms":   fmt.Sprint(minInterval.Milliseconds()),
		"__rate_interval": sec(rate),
		"__range":         sec(rng),
		"__range_s":       fmt.Sprint(int64(rng / time.Second)),
		"__range_ms":      fmt.Sprint(rng.Milliseconds()),
	}
}

// substitute replaces Grafana variables in a query; it fails on unknown ones.
func substitute(expr string, vars map[string]string) (string, error) {
	var unknown []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		name := grafanaVar.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			unknown = append(unknown, m)
			return m
		}
		return v
	})
	if len(unknown) > 0 || strings.Contains(out, "$") {
		return out, fmt.Errorf("unknown Grafana variables %v in %q", unknown, expr)
	}
	return out, nil
}

// zeroAllowed are the dashboard queries (panel title/refId) allowed to
// answer only zeros under the test's traffic, and why. Every other query
// must answer a number other than 0.
var zeroAllowed = map[string]string{
	"Partitions restoring/A":                         "0 once every partition is restored: the test waits for /readyz before the scrapes",
	"Consumer lag/A":                                 "0 while the processor keeps up with gen's 300 events/s",
	"Consumer lag by partition/A":                    "0 while the processor keeps up with gen's 300 events/s",
	"State restores/A":                               "partitions are restored once, on assignment, before the first scrape: the rate is 0 (the restore metrics are checked by TestMetricsEndpoint)",
	"State restores/B":                               "partitions are restored once, on assignment, before the first scrape: the rate is 0 (the restore metrics are checked by TestMetricsEndpoint)",
	"Open interruptions and closes held for grace/B": "0 with --grace 0, the default: a closed interruption is published at once",
	"Idle clock advances/A":                          "the harness runs with --idle-timeout 0 (outputs compared with replay elsewhere); TestRunnerIdlePartitionExpires covers idle advances",
}

// alertsMatching are the alerts whose expression matches under the test's
// traffic on a healthy processor, and why; every other alert's must not.
var alertsMatching = map[string]string{
	"InterruptionsDeadLetterRate":    "gen --bad-rate 0.05: 5% of the input is malformed, over the 1% threshold",
	"InterruptionsStreamClockBehind": "gen's event time starts on 2026-01-05, far behind the wall clock",
}

// metricName matches the processor's metric names in a query.
var metricName = regexp.MustCompile(`\binterruptions_[a-zA-Z0-9_]+`)

// TestDashboardQueries runs Debian's prometheus with the compose stack's
// prometheus.yml (targets rewritten to a real `interruptions run` on the
// test broker, fed by `interruptions gen` with malformed input, and to the
// test's Prometheus itself) and alerts.yml. After two scrapes every metric
// name the dashboard and the alerts use must exist, every query of every
// panel of the Grafana dashboard must answer, through the HTTP API, at least
// one series with a number other than 0 (0 allowed only for the queries of
// zeroAllowed), every alert rule must load and evaluate without error, and
// the expressions of exactly the alerts of alertsMatching match. Then the
// processor is killed: the Ready panel must say 0 and the expression of
// InterruptionsTargetDown match. The panels' data source must be the
// provisioned one.
func TestDashboardQueries(t *testing.T) {
	h := setup(t)
	promBin := promTool(t, "prometheus")
	queries, dashRange := dashboardQueries(t)
	rules := readAlertRules(t)

	// The data source the dashboard's panels name must be the provisioned one.
	b, err := os.ReadFile(repoFile(datasourceFile))
	must(t, "read datasource", err)
	var dss struct {
		Datasources []struct {
			UID      string `yaml:"uid"`
			Type     string `yaml:"type"`
			JSONData struct {
				TimeInterval string `yaml:"timeInterval"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	must(t, "parse "+datasourceFile, yaml.Unmarshal(b, &dss))
	if len(dss.Datasources) != 1 || dss.Datasources[0].Type != "prometheus" {
		t.Fatalf("%s: want one prometheus data source, got %+v", datasourceFile, dss.Datasources)
	}
	ds := dss.Datasources[0]
	for _, q := range queries {
		if q.Datasource != ds.UID {
			t.Errorf("panel %q query %s: data source %q, provisioned: %q", q.Panel, q.RefID, q.Datasource, ds.UID)
		}
	}

	// The processor, with phase records on for the phase records panel
	// (its topic removed after the processor stops), and traffic with 5%
	// malformed records for the dead-letter panel and alert.
	const parts = 3
	h.createTopic(h.Input, parts)
	phases := h.Output + "-phases"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = h.adm.DeleteTopics(ctx, phases)
	})
	metricsAddr := shutdownFreePort(t)
	proc := h.startRun("processor", "--partitions", fmt.Sprint(parts), "--metrics-addr", metricsAddr, "--phases-topic", phases)
	shutdownWaitReady(t, proc, metricsAddr)
	h.start("gen", "gen", "--brokers", strings.Join(h.brokers, ","), "--topic", h.Input,
		"--events", "0", "--seed", "15", "--rate", "300", "--bad-rate", "0.05")

	// The webhook bridge, fed by gen as VCC delivers (5% malformed bodies
	// for its dead letters), and a few unsigned requests for its
	// signature-failure series.
	secret := secretFile(t) // the DLQ topic exists: run created it
	ing := h.start("ingest", "ingest", "--brokers", strings.Join(h.brokers, ","),
		"--topic", h.Input, "--dlq-topic", h.DLQ, "--listen", "127.0.0.1:0", "--signing-secret-file", secret,
		"--metrics-addr=") // /metrics on --listen, as the compose stack scrapes it
	ingestURL := h.ingestURL(ing)
	h.start("gen-webhook", "gen", "--webhook", ingestURL, "--signing-secret-file", secret,
		"--events", "0", "--seed", "16", "--rate", "100", "--bad-rate", "0.05")
	// Unsigned requests, one every 500ms for the whole test, so the
	// signature-failure rate is not 0; owned here, stopped at cleanup.
	unsignedCtx, stopUnsigned := context.WithCancel(context.Background())
	unsignedDone := make(chan error, 1)
	t.Cleanup(func() {
		stopUnsigned()
		if err := <-unsignedDone; err != nil {
			t.Error(err)
		}
	})
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			req, _ := http.NewRequestWithContext(unsignedCtx, http.MethodPost, ingestURL, strings.NewReader(`{"specversion":"1.0"}`))
			req.Header.Set("Content-Type", "application/cloudevents+json")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					unsignedDone <- fmt.Errorf("unsigned request to ingest: %d, want 401", resp.StatusCode)
					return
				}
			}
			select {
			case <-unsignedCtx.Done():
				unsignedDone <- nil
				return
			case <-tick.C:
			}
		}
	}()
	ingestTarget := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(ingestURL, "http://"), "https://"), "/")
	if i := strings.IndexByte(ingestTarget, '/'); i >= 0 {
		ingestTarget = ingestTarget[:i]
	}

	// Prometheus on the compose configuration.
	dir := t.TempDir()
	promAddr := shutdownFreePort(t)
	config, scrapeInterval := testPromConfig(t, dir, map[string]string{
		"interruptions": metricsAddr,
		"ingest":        ingestTarget,
		"prometheus":    promAddr,
	})
	start := time.Now()
	prom := startPrometheus(t, promBin, config, dir, promAddr)
	pc := &promClient{addr: promAddr, http: http.Client{Timeout: 5 * time.Second}}
	promWaitFor(t, prom, 30*time.Second, "prometheus ready", func() (bool, string) {
		code, body := shutdownGet(promAddr, "/-/ready")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, strings.TrimSpace(body))
	})
	// Two successful scrapes of the processor and of the bridge: rate()
	// needs two samples.
	for job, what := range map[string]string{"interruptions": "the processor", "ingest": "the bridge"} {
		promWaitFor(t, prom, 4*scrapeInterval+20*time.Second, "two scrapes of "+what, func() (bool, string) {
			n, ok, err := pc.scalar(`sum(count_over_time(up{job="` + job + `"}[1h]))`)
			if err != nil || !ok {
				return false, fmt.Sprint("count of up samples: ", err)
			}
			up, _, err := pc.scalar(`min_over_time(up{job="` + job + `"}[1h])`)
			if err != nil {
				return false, err.Error()
			}
			if up != 1 {
				var targets struct {
					ActiveTargets []struct {
						ScrapePool string `json:"scrapePool"`
						ScrapeURL  string `json:"scrapeUrl"`
						LastError  string `json:"lastError"`
					} `json:"activeTargets"`
				}
				_ = pc.get("targets", nil, &targets)
				return false, fmt.Sprintf("a scrape of %s failed (up %v; targets %+v)", what, up, targets.ActiveTargets)
			}
			return n >= 2, fmt.Sprintf("%v scrapes", n)
		})
		t.Logf("prometheus scraped %s twice %s after it started", what, time.Since(start).Round(time.Millisecond))
	}

	// Grafana's variables, from the data source's minimum interval.
	minInterval := scrapeInterval
	if ds.JSONData.TimeInterval != "" {
		if minInterval, err = time.ParseDuration(ds.JSONData.TimeInterval); err != nil {
			t.Fatalf("%s: timeInterval: %v", datasourceFile, err)
		}
	}
	vars := grafanaVars(minInterval, dashRange)
	exprs := make([]string, len(queries))
	for i, q := range queries {
		if exprs[i], err = substitute(q.Expr, vars); err != nil {
			t.Errorf("panel %q query %s: %v", q.Panel, q.RefID, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Every metric name of the dashboard and the alerts exists: a
	// misspelt one answers nothing, and an alert on it never fires. (Some
	// series appear with the first record produced or fetched: asked again
	// at each scrape, for a few scrapes.)
	used := map[string][]string{} // metric name → users
	for _, q := range queries {
		for _, n := range metricName.FindAllString(q.Expr, -1) {
			used[n] = append(used[n], fmt.Sprintf("panel %q query %s", q.Panel, q.RefID))
		}
	}
	want := map[string]map[string]bool{} // group → rules
	for _, g := range rules.Groups {
		want[g.Name] = map[string]bool{}
		for _, r := range g.Rules {
			want[g.Name][r.Alert+r.Record] = true
			for _, n := range metricName.FindAllString(r.Expr, -1) {
				used[n] = append(used[n], "alert "+r.Alert)
			}
		}
	}
	promWaitFor(t, prom, 3*scrapeInterval, "every metric name of the dashboard and the alerts", func() (bool, string) {
		var names []string
		if err := pc.get("label/__name__/values", nil, &names); err != nil {
			return false, err.Error()
		}
		have := map[string]bool{}
		for _, n := range names {
			have[n] = true
		}
		var missing []string
		for n, users := range used {
			if !have[n] {
				missing = append(missing, fmt.Sprintf("no metric %s (%s)", n, strings.Join(users, ", ")))
			}
		}
		sort.Strings(missing)
		return len(missing) == 0, strings.Join(missing, "; ")
	})

	// Every query answers, and with traffic, not only zeros: a query that
	// errors fails at once; one that answers nothing, only NaN or only 0
	// (unless zeroAllowed) is asked again at each scrape, for a few scrapes,
	// as the traffic fills the rate windows.
	for key := range zeroAllowed {
		found := false
		for _, q := range queries {
			found = found || q.Panel+"/"+q.RefID == key
		}
		if !found {
			t.Errorf("zeroAllowed[%q]: no such panel query in %s", key, dashboardFile)
		}
	}
	check := func(i int) (bool, string) {
		q := queries[i]
		s, err := pc.query(exprs[i])
		if err != nil {
			t.Fatalf("panel %q query %s: %s: %v", q.Panel, q.RefID, exprs[i], err)
		}
		var vals []string
		nonzero := false
		for _, x := range s {
			if !math.IsNaN(x.Value) {
				vals = append(vals, fmt.Sprintf("%s=%g", labelString(x.Metric), x.Value))
				nonzero = nonzero || x.Value != 0
			}
		}
		sort.Strings(vals)
		msg := fmt.Sprintf("panel %q query %s: %s: %d series: %s", q.Panel, q.RefID, exprs[i], len(s), strings.Join(vals, " "))
		switch {
		case len(vals) == 0:
			return false, msg + " (no number)"
		case !nonzero && zeroAllowed[q.Panel+"/"+q.RefID] == "":
			return false, msg + " (only zeros)"
		}
		return true, msg
	}
	answers := make([]string, len(queries))
	promWaitFor(t, prom, 4*scrapeInterval, "every dashboard query to answer a series with a number", func() (bool, string) {
		var bad []string
		for i := range queries {
			good, msg := check(i)
			answers[i] = msg
			if !good {
				bad = append(bad, msg)
			}
		}
		return len(bad) == 0, strings.Join(bad, "\n")
	})
	for _, a := range answers {
		t.Log(a)
	}

	// Every rule group loaded, every rule evaluated without error.
	var groups []ruleGroup
	promWaitFor(t, prom, 4*scrapeInterval, "every alert rule evaluated", func() (bool, string) {
		var data struct {
			Groups []ruleGroup `json:"groups"`
		}
		if err := pc.get("rules", nil, &data); err != nil {
			return false, err.Error()
		}
		groups = data.Groups
		var pending []string
		for _, g := range groups {
			for _, r := range g.Rules {
				switch r.Health {
				case "ok":
				case "unknown": // not evaluated yet
					pending = append(pending, r.Name)
				default:
					t.Fatalf("rule group %s: rule %s: health %s: %s", g.Name, r.Name, r.Health, r.LastError)
				}
			}
		}
		return len(groups) > 0 && len(pending) == 0, fmt.Sprintf("%d groups, not evaluated yet: %v", len(groups), pending)
	})
	var firing []string
	for _, g := range groups {
		if filepath.Clean(g.File) != repoFile(alertsFile) {
			t.Errorf("rule group %s from %s, want %s", g.Name, g.File, repoFile(alertsFile))
		}
		w, ok := want[g.Name]
		if !ok {
			t.Errorf("rule group %s loaded, not in %s", g.Name, alertsFile)
			continue
		}
		for _, r := range g.Rules {
			if !w[r.Name] {
				t.Errorf("rule group %s: rule %s loaded, not in %s", g.Name, r.Name, alertsFile)
			}
			delete(w, r.Name)
			if r.State != "inactive" {
				firing = append(firing, r.Name+" "+r.State)
			}
		}
		for r := range w {
			t.Errorf("rule group %s: rule %s of %s not loaded", g.Name, r, alertsFile)
		}
		delete(want, g.Name)
	}
	for g := range want {
		t.Errorf("rule group %s of %s not loaded", g, alertsFile)
	}
	t.Logf("%d dashboard queries answer; %d rule groups loaded, every rule healthy; pending or firing: %v",
		len(queries), len(groups), firing)

	// On the healthy processor, the expressions of exactly the alerts of
	// alertsMatching match (their `for` is not waited for).
	promWaitFor(t, prom, 3*scrapeInterval, "the alerts that match the healthy processor", func() (bool, string) {
		var wrong []string
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				s, err := pc.query(r.Expr)
				if err != nil {
					t.Fatalf("alert %s: %v", r.Alert, err)
				}
				switch why, ok := alertsMatching[r.Alert]; {
				case ok && len(s) == 0:
					wrong = append(wrong, fmt.Sprintf("%s does not match (%s)", r.Alert, why))
				case !ok && len(s) > 0:
					wrong = append(wrong, fmt.Sprintf("%s matches: %v", r.Alert, s))
				}
			}
		}
		return len(wrong) == 0, strings.Join(wrong, "; ")
	})

	// A processor Prometheus cannot scrape: the Ready panel says 0 (its
	// ready series goes stale with the failed scrape) and the expression
	// of InterruptionsTargetDown matches.
	_ = proc.cmd.Process.Kill()
	<-proc.done
	promWaitFor(t, prom, 3*scrapeInterval, "a failed scrape of the killed processor", func() (bool, string) {
		up, ok, err := pc.scalar(`up{job="interruptions"}`)
		return err == nil && ok && up == 0, fmt.Sprintf("up %v %v %v", up, ok, err)
	})
	for i, q := range queries {
		if q.Panel != "Ready" {
			continue
		}
		if v, ok, err := pc.scalar(exprs[i]); err != nil || !ok || v != 0 {
			t.Errorf("panel %q query %s with the processor down: %v (answered: %v, %v), want 0", q.Panel, q.RefID, v, ok, err)
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "InterruptionsTargetDown" {
				continue
			}
			if s, err := pc.query(r.Expr); err != nil || len(s) != 1 {
				t.Errorf("alert %s: %s with the processor down: %v %v, want one series", r.Alert, r.Expr, s, err)
			}
		}
	}
}

// ruleGroup is a rule group as /api/v1/rules answers it.
type ruleGroup struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Rules []struct {
		Name      string `json:"name"`
		Health    string `json:"health"` // ok, err, or unknown until evaluated
		LastError string `json:"lastError"`
		State     string `json:"state"` // of an alert: inactive, pending, firing
	} `json:"rules"`
}

// labelString formats a series' labels for the log.
func labelString(m map[string]string) string {
	var pairs []string
	for k, v := range m {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return "{" + strings.Join(pairs, ",") + "}"
}

// TestDashboardGrafanaVariables checks the substitution of Grafana's global
// variables the query test uses (the dashboard may use them at any time).
func TestDashboardGrafanaVariables(t *testing.T) {
	vars := grafanaVars(5*time.Second, 30*time.Minute)
	for in, want := range map[string]string{
		`sum(rate(x[$__rate_interval]))`:                    `sum(rate(x[20s]))`,
		`sum(rate(x[${__rate_interval}])) / $__interval_ms`: `sum(rate(x[20s])) / 5000`,
		`increase(x[$__range]) + x offset $__interval`:      `increase(x[1800s]) + x offset 5s`,
		`avg_over_time(x[${__range}]) * $__range_s`:         `avg_over_time(x[1800s]) * 1800`,
		`max(interruptions_ready)`:                          `max(interruptions_ready)`,
	} {
		got, err := substitute(in, vars)
		if err != nil || got != want {
			t.Errorf("substitute(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`rate(x[$__unknown])`, `x{instance="$instance"}`} {
		if got, err := substitute(in, vars); err == nil {
			t.Errorf("substitute(%q) = %q, want an error", in, got)
		}
	}
	// Grafana: $__rate_interval is at least four scrape intervals, and one
	// scrape interval more than $__interval.
	if got := grafanaVars(time.Minute, time.Hour)["__rate_interval"]; got != "240s" {
		t.Errorf("$__rate_interval at a 1m minimum interval: %s, want 240s", got)
	}
}

// composeService is the part of a docker-compose service the tests read.
type composeService struct {
	Command     any               `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
}

// hostPath maps a path inside the service's container to the repository
// file its bind mounts put there; ok is false when no mount covers it.
func (s composeService) hostPath(container string) (string, bool) {
	best, bestDst := "", ""
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], ".") {
			continue
		}
		src, dst := parts[0], filepath.Clean(parts[1])
		if container != dst && !strings.HasPrefix(container, dst+"/") {
			continue
		}
		if len(dst) > len(bestDst) {
			best, bestDst = filepath.Join(repoRoot, src, strings.TrimPrefix(container, dst)), dst
		}
	}
	return best, best != ""
}

// TestDashboardComposeMounts checks, without a container engine, that the
// compose stack's Prometheus and Grafana find the files the tests prove:
// Prometheus' --config.file and its rule files, Grafana's provisioned data
// source (pointing at the prometheus service) and dashboard, through the
// services' bind mounts.
func TestDashboardComposeMounts(t *testing.T) {
	b, err := os.ReadFile(repoFile("docker-compose.yml"))
	must(t, "read docker-compose.yml", err)
	var compose struct {
		Services map[string]composeService `yaml:"services"`
	}
	must(t, "parse docker-compose.yml", yaml.Unmarshal(b, &compose))
	same := func(what, host, want string) {
		t.Helper()
		if host != repoFile(want) {
			t.Errorf("%s is %s on the host, want %s", what, host, want)
		} else if _, err := os.Stat(host); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}

	prom, ok := compose.Services["prometheus"]
	if !ok {
		t.Fatal("docker-compose.yml: no prometheus service")
	}
	args, _ := prom.Command.([]any)
	config := ""
	for _, a := range args {
		if s := fmt.Sprint(a); strings.HasPrefix(s, "--config.file=") {
			config = strings.TrimPrefix(s, "--config.file=")
		}
	}
	if config == "" {
		t.Fatal("prometheus service: no --config.file in its command")
	}
	host, ok := prom.hostPath(config)
	if !ok {
		t.Fatalf("prometheus service: no volume mounts %s", config)
	}
	same("prometheus --config.file "+config, host, promConfigFile)
	var cfg struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	b, err = os.ReadFile(repoFile(promConfigFile))
	must(t, "read prometheus config", err)
	must(t, "parse prometheus config", yaml.Unmarshal(b, &cfg))
	for _, r := range cfg.RuleFiles {
		in := filepath.Join(filepath.Dir(config), r) // relative to the config file
		host, ok := prom.hostPath(in)
		if !ok {
			t.Errorf("prometheus service: rule file %s (%s) is not mounted", r, in)
			continue
		}
		same("prometheus rule file "+in, host, alertsFile)
	}

	graf, ok := compose.Services["grafana"]
	if !ok {
		t.Fatal("docker-compose.yml: no grafana service")
	}
	// Grafana reads provisioning from /etc/grafana/provisioning.
	host, ok = graf.hostPath("/etc/grafana/provisioning/datasources/prometheus.yml")
	if !ok {
		t.Fatal("grafana service: /etc/grafana/provisioning is not mounted")
	}
	same("grafana's data source", host, datasourceFile)
	var dss struct {
		Datasources []struct {
			URL string `yaml:"url"`
		} `yaml:"datasources"`
	}
	b, err = os.ReadFile(repoFile(datasourceFile))
	must(t, "read datasource", err)
	must(t, "parse datasource", yaml.Unmarshal(b, &dss))
	for _, d := range dss.Datasources {
		// The service name, on the port prom/prometheus listens on.
		if d.URL != "http://prometheus:9090" {
			t.Errorf("data source url %s, want http://prometheus:9090 (the prometheus service)", d.URL)
		}
	}
	host, ok = graf.hostPath("/etc/grafana/provisioning/dashboards/interruptions.yml")
	if !ok {
		t.Fatal("grafana service: the dashboard provider is not mounted")
	}
	var providers struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	b, err = os.ReadFile(host)
	must(t, "read dashboard provider", err)
	must(t, "parse dashboard provider", yaml.Unmarshal(b, &providers))
	if len(providers.Providers) != 1 {
		t.Fatalf("%s: %d providers, want 1", host, len(providers.Providers))
	}
	dash := filepath.Join(providers.Providers[0].Options.Path, filepath.Base(dashboardFile))
	host, ok = graf.hostPath(dash)
	if !ok {
		t.Fatalf("grafana service: the dashboard %s is not mounted", dash)
	}
	same("grafana's dashboard "+dash, host, dashboardFile)
	if home := graf.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		host, ok = graf.hostPath(home)
		if !ok {
			t.Fatalf("grafana service: the home dashboard %s is not mounted", home)
		}
		same("grafana's home dashboard", host, dashboardFile)
	}
}
