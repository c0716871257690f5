package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bigfather/bigfather/internal/confkey"
)

// ErrInvalid is wrapped by every error about the configuration's content:
// YAML syntax, unknown or duplicate keys, wrong types, environment
// expansion, overrides and validation. Errors reading the file do not wrap
// it.
var ErrInvalid = errors.New("invalid configuration")

// Error is one problem with the configuration. Parse, Load and Validate
// return one *Error, or several joined with errors.Join.
type Error struct {
	// File is the configuration file, when it came from Load.
	File string
	// Line is the 1-based line in the file, or 0 when unknown (values set
	// by defaults or code rather than the file).
	Line int
	// Path is the key path, like "kafka.brokers" or "tables[1].table";
	// "" for the document itself.
	Path string
	// Msg says what is wrong.
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes every Error match ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

// errorList collects problems so that one run reports all of them.
type errorList []*Error

func (l *errorList) add(line int, path, format string, args ...any) {
	*l = append(*l, &Error{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// in adds the problems of a package section's Validate result under the
// section's key path: a *confkey.Error names its key inside the section.
func (l *errorList) in(path string, err error) {
	for _, e := range confkey.Errors(err) {
		l.add(0, confkey.Join(path, e.Path), "%s", e.Msg)
	}
}

// err returns nil, the single error, or all of them joined.
func (l errorList) err() error { return confkey.JoinAll(l) }

// Errors returns every *Error inside err (one, or joined), in order.
func Errors(err error) []*Error { return confkey.Collect[*Error](err, nil) }

// joinPath appends a key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// indexPath appends a sequence index to a path.
func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
