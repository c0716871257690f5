package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// lookupFunc returns an environment variable and whether it is set; it is
// os.LookupEnv outside tests.
type lookupFunc func(string) (string, bool)

// expand replaces ${VAR} and ${VAR:-default} in s and turns $$ into $. As in
// the shell, the default is used when VAR is unset or empty. A $ followed by
// anything else is kept, so a literal password like "pa$word" survives. An
// unset VAR without a default is an error naming it.
func expand(s string, lookup lookupFunc) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		expr := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("invalid variable reference ${%s}: want ${NAME} or ${NAME:-default}", expr)
		}
		v, ok := lookup(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			return "", fmt.Errorf("environment variable %s is not set (use ${%s:-default} for a default, $$ for a literal $)", name, name)
		}
		b.WriteString(v)
		i += 2 + end + 1
	}
	return b.String(), nil
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// expandScalar returns n with its value expanded: n itself when nothing
// changed, otherwise a copy, so a node shared through a YAML alias is never
// expanded twice ("$${X}" must stay "${X}"). A plain (unquoted) scalar is
// re-resolved from its new text, so "${PORT}" with PORT=9092 decodes as a
// number; a result YAML would read as null ("", "~", "null") stays a string,
// so a variable can set a value to empty but can never unset a key.
// Expansion never changes the node's kind: a value is always one scalar.
func expandScalar(n *yaml.Node, lookup lookupFunc) (*yaml.Node, error) {
	v, err := expand(n.Value, lookup)
	if err != nil || v == n.Value {
		return n, err
	}
	c := *n
	c.Value = v
	if c.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle|yaml.TaggedStyle) != 0 {
		return &c, nil
	}
	probe := yaml.Node{Kind: yaml.ScalarNode, Value: v}
	if probe.ShortTag() == "!!null" {
		c.Tag = "!!str"
	} else {
		c.Tag = ""
	}
	return &c, nil
}
