package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// configFlag names the YAML file of settings every command accepts
// (also INTERRUPTIONS_CONFIG). Its keys are the flag names:
//
//	brokers: [kafka-1:9092, kafka-2:9092]   # or "kafka-1:9092,kafka-2:9092"
//	input-topic: channel-events
//	max-interruption: 2h
//	tls: true
//
// Precedence: flag > environment > file > default.
const configFlag = "config"

// registerConfigFlag adds --config to c.
func registerConfigFlag(c *command) {
	c.fs.String(configFlag, "", "YAML file of settings, keys are the flag names (brokers: [a:9092, b:9092]); flag > environment > file > default")
}

// configSetting is one key of the settings file.
type configSetting struct {
	name  string
	value string
	line  int
}

// applyConfigFile reads the --config file, if one is named, and sets every
// flag that set does not contain from it. Unknown keys and bad values are
// usage errors naming the setting, the file and the line.
func (c *command) applyConfigFile(set map[string]bool) error {
	f := c.fs.Lookup(configFlag)
	if f == nil || f.Value.String() == "" {
		return nil
	}
	path := f.Value.String()
	settings, err := readConfigFile(path, c.fs)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range settings {
		if set[s.name] {
			continue
		}
		fl := c.fs.Lookup(s.name)
		if err := c.fs.Set(s.name, s.value); err != nil {
			errs = append(errs, usageError("%s: %s line %d: invalid value %s: %v", s.name, path, s.line, shownValue(fl, s.value), err))
		}
	}
	return errors.Join(errs...)
}

// readConfigFile parses a YAML settings file: one mapping of flag names to
// scalars (or, for list settings, sequences of scalars).
func readConfigFile(path string, fs *flag.FlagSet) ([]configSetting, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("%s: %v", configFlag, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty file, or only comments
		}
		return nil, usageError("%s: %s: %v", configFlag, path, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, usageError("%s: %s: want one YAML document of settings, found more", configFlag, path)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, usageError("%s: %s line %d: want a mapping of settings (input-topic: name), not a %s", configFlag, path, root.Line, nodeKind(root))
	}
	var (
		out  []configSetting
		errs []error
		seen = map[string]int{}
	)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, usageError("%s: %s line %d: a key must be a setting name, not a %s", configFlag, path, k.Line, nodeKind(k)))
			continue
		}
		name := k.Value
		fl := fs.Lookup(name)
		switch {
		case name == configFlag:
			errs = append(errs, usageError("%s: %s line %d: %q cannot be set in the settings file", configFlag, path, k.Line, name))
			continue
		case fl == nil:
			errs = append(errs, usageError("%s: %s line %d: unknown setting %q (the keys are the flag names: see --help)", configFlag, path, k.Line, name))
			continue
		}
		if first, dup := seen[name]; dup {
			errs = append(errs, usageError("%s: %s line %d: %q is set twice (first on line %d)", name, path, k.Line, name, first))
			continue
		}
		seen[name] = k.Line
		value, err := nodeValue(v, fl)
		if err != nil {
			errs = append(errs, usageError("%s: %s line %d: %v", name, path, v.Line, err))
			continue
		}
		out = append(out, configSetting{name: name, value: value, line: v.Line})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// nodeValue turns a YAML value into the string a flag's Set takes: a
// scalar as written; a sequence of scalars, for list settings, joined
// with commas.
func nodeValue(n *yaml.Node, fl *flag.Flag) (string, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "", errors.New("no value; remove the key to use the default")
		}
		return n.Value, nil
	case yaml.SequenceNode:
		if _, ok := fl.Value.(listValue); !ok {
			return "", errors.New("want a single value, not a list")
		}
		items := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
				return "", fmt.Errorf("list items must be plain values, not a %s", nodeKind(item))
			}
			items = append(items, item.Value)
		}
		return strings.Join(items, ","), nil
	}
	return "", fmt.Errorf("want a value, not a %s", nodeKind(n))
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "value"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// secretValue marks flag values that must never be printed: --help shows
// no default and errors show *** instead of the value.
type secretValue interface {
	flag.Value
	secret()
}

// shownValue is how an error message shows the value v of fl: quoted, or
// *** for secrets.
func shownValue(fl *flag.Flag, v string) string {
	if fl != nil {
		if _, ok := fl.Value.(secretValue); ok {
			return "***"
		}
	}
	return fmt.Sprintf("%q", v)
}
