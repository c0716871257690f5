package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Every key the parser accepts is in the configuration reference, so a new
// key cannot ship undocumented. A key counts as documented when the
// reference's yaml block sets it, or names it in a commented-out line under
// its parent (`    # topics: [...]`, as the optional table keys are shown).
// The transform and cleanse steps have too many parameters for one block:
// the reference points to docs/routing.md (Transforms, and Enrichment for the
// enrich step), where each parameter must appear as `name:`.
func TestConfigurationReferenceDocumentsEveryKey(t *testing.T) {
	ref := referenceBlock(t)
	documented := documentedKeys(t, ref)
	routing, err := os.ReadFile("../../docs/routing.md")
	if err != nil {
		t.Fatal(err)
	}
	steps := string(routing)
	if !strings.Contains(steps, "\n## Transforms\n") {
		t.Fatal("docs/routing.md has no Transforms section")
	}
	for _, key := range configKeys(reflect.TypeFor[Config](), "") {
		if documented[key] {
			continue
		}
		if param, ok := stepParam(key); ok {
			if !regexp.MustCompile(`[{ ,]` + regexp.QuoteMeta(param) + `:`).MatchString(steps) {
				t.Errorf("%s: not in docs/routing.md", key)
			}
			continue
		}
		t.Errorf("%s: not in docs/configuration.md's reference", key)
	}
}

// referenceBlock returns the yaml block of the configuration reference, the
// text TestREADMEConfigurationReferenceParses parses.
func referenceBlock(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ref, ok := strings.Cut(string(b), "## Configuration reference")
	_, block, ok2 := strings.Cut(ref, "```yaml\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !ok2 || !closed {
		t.Fatal("docs/configuration.md has no configuration reference yaml block")
	}
	return block
}

// stepParam reports the parameter name of a key inside a transform or
// cleanse step.
func stepParam(key string) (string, bool) {
	for _, p := range []string{"tables[].transforms[].", "tables[].cleanse[]."} {
		if rest, ok := strings.CutPrefix(key, p); ok {
			name, _, _ := strings.Cut(rest, ".")
			return name, true
		}
	}
	return "", false
}

// configKeys lists the key paths of t's yaml fields: "kafka.tls.enabled",
// "tables[].route.field". A map's keys are free-form, so a map is one key;
// so is a type with its own UnmarshalYAML.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag == "-" {
			continue
		}
		ft := f.Type
		if strings.Contains(f.Tag.Get("yaml"), ",inline") {
			keys = append(keys, configKeys(ft, prefix)...)
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		key := prefix + tag
		keys = append(keys, key)
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft == reflect.TypeFor[time.Duration]() || reflect.PointerTo(ft).Implements(reflect.TypeFor[yaml.Unmarshaler]()):
		case ft.Kind() == reflect.Struct:
			keys = append(keys, configKeys(ft, key+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct &&
			!reflect.PointerTo(ft.Elem()).Implements(reflect.TypeFor[yaml.Unmarshaler]()):
			keys = append(keys, configKeys(ft.Elem(), key+"[].")...)
		}
	}
	return keys
}

// commentedKey is a commented-out key line of the reference: `  # key: value`.
var commentedKey = regexp.MustCompile(`^(\s*)#\s*([a-z_]+):\s*(.*)$`)

// documentedKeys returns the key paths the reference block sets or shows in
// a commented-out line.
func documentedKeys(t *testing.T, block string) map[string]bool {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	keyAt := map[int]string{}  // line -> path of the first key on it
	itemAt := map[int]string{} // line -> path of the sequence item starting on it
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				keys[p] = true
				if _, ok := keyAt[n.Content[i].Line]; !ok {
					keyAt[n.Content[i].Line] = p
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if _, ok := itemAt[c.Line]; !ok {
					itemAt[c.Line] = path + "[]"
				}
				walk(c, path+"[]")
			}
		}
	}
	walk(&doc, "")

	lines := strings.Split(block, "\n")
	for i, line := range lines {
		m := commentedKey.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		parent := ""
		for j := i - 1; j >= 0; j-- {
			content := strings.TrimLeft(lines[j], " ")
			if content == "" || strings.HasPrefix(content, "#") || len(lines[j])-len(content) >= len(m[1]) {
				continue
			}
			if strings.HasPrefix(content, "- ") {
				parent = itemAt[j+1]
			} else {
				parent = keyAt[j+1]
			}
			break
		}
		p := m[2]
		if parent != "" {
			p = parent + "." + p
		}
		keys[p] = true
		// The value shown may itself hold keys: {field: kind, values: [...]}.
		value := m[3]
		if k := strings.Index(value, "   #"); k >= 0 {
			value = value[:k]
		}
		var n yaml.Node
		if yaml.Unmarshal([]byte(value), &n) == nil && len(n.Content) == 1 {
			walk(n.Content[0], p)
		}
	}
	return keys
}

// The parser behind the check above finds keys where the reference shows
// them, so that its misses are real.
func TestDocumentedKeysReadsTheReferenceForms(t *testing.T) {
	got := documentedKeys(t, `pipeline: p
kafka:
  brokers: ["b:9092"]
  tls: {enabled: false, ca_file: ""}
tables:
  - {topic: t, table: a.b}
    # route: {field: kind, values: [x]}   # or {header: h}
    # rules: [{name: r, expr: "value.x > 0"}]
routing:
  unrouted: drop
`)
	want := []string{"pipeline", "kafka", "kafka.brokers", "kafka.tls", "kafka.tls.enabled", "kafka.tls.ca_file",
		"tables", "tables[].topic", "tables[].table", "tables[].route", "tables[].route.field", "tables[].route.values",
		"tables[].rules", "tables[].rules[].name", "tables[].rules[].expr", "routing", "routing.unrouted"}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("documented keys\n got %v\nwant %v", keys, want)
	}
}
