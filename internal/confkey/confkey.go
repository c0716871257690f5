// Package confkey lets a package's Config report each problem by the key it
// is about, relative to the package's own section of the config file
// ("region", "sql.dsn", "columns[0].name"). internal/config, which knows
// where the section sits in the file, prefixes the section's path and adds
// the line; a package validating its Config in code gets errors that read
// "sql.dsn: required for postgres".
package confkey

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Error is one problem with a key of a section.
type Error struct {
	// Path is the key relative to the section, like "s3.region" or
	// "columns[1].name"; "" for the section as a whole.
	Path string
	// Msg says what is wrong.
	Msg string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// List collects a section's problems so that one validation reports all of
// them.
type List []*Error

// Add records a problem at path.
func (l *List) Add(path, format string, args ...any) {
	*l = append(*l, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// In adds every problem of err, a section's Validate result, under path:
// the *Errors it holds with their paths joined to path, anything else as a
// problem of path itself.
func (l *List) In(path string, err error) {
	for _, e := range Errors(err) {
		*l = append(*l, &Error{Path: Join(path, e.Path), Msg: e.Msg})
	}
}

// Err returns nil, the single problem, or all of them joined.
func (l List) Err() error { return JoinAll(l) }

// JoinAll returns nil, the single error of l, or all of them joined: a
// list of keyed errors as one error. internal/config's list, whose errors
// also carry a line, uses it too.
func JoinAll[E error](l []E) error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Errors returns the problems in err: its *Errors (one, or joined) in
// order, and any other error as an *Error of the section itself.
func Errors(err error) []*Error {
	return Collect(err, func(err error) *Error { return &Error{Msg: err.Error()} })
}

// Collect returns the errors of type E inside err (one, or joined), in
// order. Another error becomes other(err), or is left out when other is
// nil.
func Collect[E error](err error, other func(error) E) []E {
	var out []E
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e E
		switch {
		case errors.As(err, &e):
			out = append(out, e)
		case other != nil:
			out = append(out, other(err))
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// Join appends a key to a dotted path.
func Join(path, key string) string {
	switch {
	case path == "":
		return key
	case key == "":
		return path
	}
	return path + "." + key
}

// Index appends a sequence index to a path.
func Index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// HostPort returns "" when s is host:port with a numeric port, otherwise
// what is wrong with it.
func HostPort(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return strconv.Quote(s) + " is invalid: want host:port"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return strconv.Quote(s) + " is invalid: want a numeric port"
	}
	if strings.ContainsAny(host, " /") {
		return strconv.Quote(s) + " is invalid: want host:port"
	}
	return ""
}

// HTTPURL returns the scheme of an http or https URL with a host, or a
// message saying what is wrong. The message never echoes the URL, which may
// carry a password.
func HTTPURL(s string) (scheme, msg string) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "is not a valid URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "want an http:// or https:// URL"
	}
	if u.Host == "" {
		return "", "URL needs a host"
	}
	return u.Scheme, ""
}
