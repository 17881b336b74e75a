package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// envPrefix prefixes every setting's environment variable.
const envPrefix = "INTERRUPTIONS_"

// errUsage marks errors in the command line or settings: exit code 2.
var errUsage = errors.New("usage")

// usageError wraps err as a usage error.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// command is one subcommand: its flag set and what it runs.
type command struct {
	name    string
	summary string
	fs      *flag.FlagSet
	// args is how many positional arguments the command takes.
	args int
}

func newCommand(name, summary string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &command{name: name, summary: summary, fs: fs}
	registerConfigFlag(c)
	return c
}

// envName returns the environment variable of a flag: INTERRUPTIONS_ and
// the flag's name in capitals with dashes as underscores.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse reads flags, then fills every flag not given on the command line
// from its environment variable, then every flag still unset from the
// --config file. Precedence: flag > environment > file > default.
func (c *command) parse(args []string, getenv func(string) string) error {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError("%s: %v", c.name, err)
	}
	if c.fs.NArg() > c.args {
		return usageError("%s: unexpected argument %q", c.name, c.fs.Arg(c.args))
	}
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	c.fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			set[f.Name] = true
			if err := c.fs.Set(f.Name, v); err != nil {
				errs = append(errs, usageError("%s: %s=%s: %v", f.Name, envName(f.Name), shownValue(f, v), err))
			}
		}
	})
	if len(errs) == 0 {
		errs = append(errs, c.applyConfigFile(set))
	}
	return errors.Join(errs...)
}

// usage writes the command's help: every setting with its default and its
// environment variable.
func (c *command) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: interruptions %s [flags]\n\n%s\n\nFlags (each also read from its environment variable and from the --config YAML file, keys\nare the flag names; flag > environment > file > default):\n", c.name, c.summary)
	var flags []*flag.Flag
	c.fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s\n        %s\n        default %s, env %s\n", f.Name, f.Usage, def, envName(f.Name))
	}
}

// listFlag is a comma-separated list flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return errors.New("empty list")
	}
	*l = out
	return nil
}

// isList marks list flags: the --config file may give them as a YAML
// sequence.
func (l *listFlag) isList() {}

// listValue is a flag whose value is a list.
type listValue interface {
	flag.Value
	isList()
}

// repeatedFlag is a list flag that may be given several times on the command
// line, each time adding to the list (and each value may hold several
// comma-separated items).
type repeatedFlag struct {
	items []string
	set   bool
}

func (r *repeatedFlag) String() string { return strings.Join(r.items, ",") }

func (r *repeatedFlag) Set(s string) error {
	var l listFlag
	if err := l.Set(s); err != nil {
		return err
	}
	if !r.set {
		r.items, r.set = nil, true
	}
	r.items = append(r.items, l...)
	return nil
}

func (r *repeatedFlag) isList() {}

// byteSize is a size in bytes: a number, optionally with a KiB, MiB or GiB
// suffix (1MiB, 512KiB, 1048576). It must be positive.
type byteSize int64

func (b *byteSize) String() string {
	v := int64(*b)
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.size && v%u.size == 0 {
			return fmt.Sprintf("%d%s", v/u.size, u.name)
		}
	}
	return fmt.Sprint(v)
}

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	num := strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.size
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v > (1<<40)/mult {
		return errors.New("want a positive size in bytes, optionally with KiB, MiB or GiB (1MiB)")
	}
	*b = byteSize(v * mult)
	return nil
}

// positiveDuration rejects zero and negative durations at parse time.
type positiveDuration time.Duration

func (d *positiveDuration) String() string { return time.Duration(*d).String() }

func (d *positiveDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v <= 0 {
		return errors.New("must be positive")
	}
	*d = positiveDuration(v)
	return nil
}

// enumFlag accepts one of a fixed set of words.
type enumFlag struct {
	value   string
	allowed []string
}

func (e *enumFlag) String() string { return e.value }

func (e *enumFlag) Set(s string) error {
	for _, a := range e.allowed {
		if s == a {
			e.value = s
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(e.allowed, ", "))
}

// phaseMaxima is --max-phase: phase=duration items, comma separated (in a
// --config file also a YAML sequence of them).
type phaseMaxima map[string]time.Duration

func (m *phaseMaxima) String() string {
	if m == nil || len(*m) == 0 {
		return ""
	}
	var items []string
	for _, k := range slices.Sorted(maps.Keys(*m)) {
		items = append(items, k+"="+(*m)[k].String())
	}
	return strings.Join(items, ",")
}

func (m *phaseMaxima) Set(s string) error {
	var l listFlag
	if err := l.Set(s); err != nil {
		return err
	}
	out := phaseMaxima{}
	for _, item := range l {
		name, v, ok := strings.Cut(item, "=")
		if !ok {
			return fmt.Errorf("%q is not phase=duration", item)
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q: %w", item, err)
		}
		out[strings.TrimSpace(name)] = d
	}
	*m = out
	return nil
}

func (m *phaseMaxima) isList() {}
