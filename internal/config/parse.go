package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bigfather/bigfather/ingest"
)

// Load reads the configuration file at path and parses it as Parse does.
// Errors name the file.
func Load(path string, sets ...string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := parse(data, sets, os.LookupEnv)
	if err != nil {
		for _, e := range Errors(err) {
			if e.Line > 0 {
				e.File = path
			}
		}
		return nil, err
	}
	return cfg, nil
}

// Parse parses a configuration file's contents, applies the overrides in
// sets, fills defaults and validates the result.
//
// Each set is "key.path=value", like "flush.max_latency=2s",
// "tables[0].topic=tracks" (an index one past the end appends) or
// "catalog.rest.properties.warehouse=w"; a list value is comma-separated
// ("kafka.brokers=a:1,b:2"). Sets override the file and are expanded like
// file values, so "kafka.sasl.password=${KAFKA_PASSWORD}" keeps a secret out
// of the process arguments. data may be empty when everything comes from
// sets.
//
// Every error wraps ErrInvalid; several problems are joined, each an *Error
// (see Errors).
func Parse(data []byte, sets ...string) (*Config, error) {
	return parse(data, sets, os.LookupEnv)
}

func parse(data []byte, sets []string, lookup lookupFunc) (*Config, error) {
	root, perr := parseDocument(data)
	if perr != nil {
		return nil, perr
	}
	d := &decoder{lookup: lookup, lines: make(map[string]int)}
	for _, s := range sets {
		if err := applySet(root, s); err != nil {
			d.errs = append(d.errs, err)
		}
	}
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	cfg := Default()
	d.decode(root, reflect.ValueOf(&cfg).Elem(), "")
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	if err := cfg.fillDerived(); err != nil {
		return nil, err
	}
	verrs := cfg.validate()
	for _, e := range verrs {
		e.Line = d.lines[e.Path]
	}
	if err := verrs.err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument parses data into the top-level mapping node. Exactly one
// document is accepted: a second one would otherwise be silently ignored.
func parseDocument(data []byte) (*yaml.Node, *Error) {
	empty := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return empty, nil
		}
		return nil, syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(err)
		}
		return nil, &Error{Line: extra.Line, Msg: "a second YAML document; want exactly one"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return empty, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return empty, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{Line: root.Line, Msg: "want a mapping of keys at the top level, got " + describe(root)}
	}
	return root, nil
}

func syntaxError(err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{Msg: "invalid YAML: " + msg}
}

// fillDerived fills the defaults that depend on other keys, and makes the
// warehouse location absolute.
func (c *Config) fillDerived() error {
	if c.Kafka.Group == "" && c.Pipeline != "" {
		c.Kafka.Group = "bigfather-" + c.Pipeline
	}
	abs, err := resolveWarehouse(c.Warehouse.URL)
	if err != nil {
		return &Error{Path: "warehouse.url", Msg: err.Error()}
	}
	c.Warehouse.URL = abs
	for i := range c.Tables {
		r := &c.Tables[i]
		if r.Format == "" {
			r.Format = ingest.FormatAvro
		}
		if !c.Quarantine.Enabled {
			r.Rejects = ""
		} else if r.Rejects == "" && r.Table != "" {
			r.Rejects = r.Table + c.Quarantine.Suffix
		}
	}
	if dir, ok := c.Warehouse.LocalDir(); ok {
		c.Catalog = c.Catalog.WithWarehouse(dir)
	}
	return nil
}
