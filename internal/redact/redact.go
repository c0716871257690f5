// Package redact keeps secrets that travel inside URLs and DSNs (a
// password in user info, password= in a keyword/value DSN, a token in a
// query string) out of log lines and error messages. Libraries put the
// URLs they were given into their errors verbatim, so hiding a secret in
// the config dump is not enough: every error that may embed such a URL is
// passed through a Scrubber, which replaces each secret's text.
package redact

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Mark replaces a secret.
const Mark = "***"

// minSecret is the shortest secret a Scrubber replaces in free text:
// replacing every "a" of a message would make it unreadable, and a one- or
// two-character secret protects nothing anyway.
const minSecret = 3

// secretKey reports whether a query parameter or property name holds a
// secret ("password", "token", "s3.secret-access-key", "X-Amz-Signature").
func secretKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"credential", "token", "secret", "password", "passwd", "pwd", "signature", "apikey", "api_key", "api-key"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// SecretKey reports whether a property or parameter named key holds a
// secret.
func SecretKey(key string) bool { return secretKey(key) }

// URL hides the password in a URL's user info and the values of query
// parameters whose names say they are secrets. A value with user info
// that does not parse is hidden whole, since it cannot be shown to be safe.
func URL(s string) string {
	if !strings.Contains(s, "@") && !strings.Contains(s, "?") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return Mark
		}
		return s
	}
	out := s
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			// The password is swapped after formatting because url would
			// percent-encode the mark. A username cannot contain an
			// unescaped ':', so the first ":x@" is the password.
			c := *u
			c.User = url.UserPassword(u.User.Username(), "x")
			c.RawQuery = ""
			c.ForceQuery = false
			out = strings.Replace(c.String(), ":x@", ":"+Mark+"@", 1)
			if u.RawQuery != "" || u.ForceQuery {
				out += "?" + u.RawQuery
			}
		}
	}
	if u.RawQuery != "" {
		base, q, _ := strings.Cut(out, "?")
		out = base + "?" + redactQuery(q)
	}
	return out
}

// redactQuery hides the values of secret parameters in a raw query,
// keeping the rest byte for byte.
func redactQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		if name, err := url.QueryUnescape(k); err == nil && ok && secretKey(name) {
			parts[i] = k + "=" + Mark
		}
	}
	return strings.Join(parts, "&")
}

// dsnPassword matches password=... in a keyword/value DSN ("host=h
// password='x y' dbname=d"), quoted or not.
var dsnPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)`)

// DSN hides the password of a URL-form or keyword/value DSN.
func DSN(s string) string {
	if strings.Contains(s, "://") {
		return URL(s)
	}
	return dsnPassword.ReplaceAllString(s, "${1}"+Mark)
}

// URLSecrets returns the secret parts of a URL as they may appear in text:
// the user-info password and secret query values, both raw and decoded.
func URLSecrets(s string) []string {
	u, err := url.Parse(s)
	if err != nil {
		// Unparsable: fall back to the text between the last ':' before
		// '@' and the '@', if any.
		at := strings.LastIndexByte(s, '@')
		if at < 0 {
			return nil
		}
		head := s[:at]
		if i := strings.Index(head, "://"); i >= 0 {
			head = head[i+3:]
		}
		if _, pw, ok := strings.Cut(head, ":"); ok {
			return both(pw)
		}
		return nil
	}
	var out []string
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			out = append(out, pw)
			// The user info as written, which may be percent-encoded.
			if _, raw, ok := strings.Cut(strings.TrimPrefix(u.User.String(), u.User.Username()), ":"); ok {
				out = append(out, raw)
			}
			if _, raw, ok := strings.Cut(rawUserinfo(s), ":"); ok {
				out = append(out, raw)
			}
		}
	}
	for _, p := range strings.Split(u.RawQuery, "&") {
		k, v, ok := strings.Cut(p, "=")
		if name, err := url.QueryUnescape(k); err == nil && ok && secretKey(name) {
			out = append(out, both(v)...)
		}
	}
	return out
}

// rawUserinfo is the user info of s exactly as written.
func rawUserinfo(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	return rest[:at]
}

// both returns v and, when it differs, its percent-decoded form.
func both(v string) []string {
	out := []string{v}
	if d, err := url.QueryUnescape(v); err == nil && d != v {
		out = append(out, d)
	}
	if d, err := url.PathUnescape(v); err == nil && d != v {
		out = append(out, d)
	}
	return out
}

// DSNSecrets returns the secrets of a URL-form or keyword/value DSN.
func DSNSecrets(s string) []string {
	if strings.Contains(s, "://") {
		return URLSecrets(s)
	}
	var out []string
	for _, m := range dsnPassword.FindAllStringSubmatch(s, -1) {
		v := m[2]
		out = append(out, v)
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			inner := v[1 : len(v)-1]
			out = append(out, inner, strings.ReplaceAll(strings.ReplaceAll(inner, `\'`, `'`), `\\`, `\`))
		}
	}
	return out
}

// Scrubber replaces known secrets in text. The zero value and nil replace
// nothing. It is safe for concurrent use.
type Scrubber struct {
	r *strings.Replacer
}

// NewScrubber returns a Scrubber for secrets; ones shorter than three
// characters and duplicates are ignored. Longer secrets are replaced
// first, so one that contains another is hidden whole.
func NewScrubber(secrets ...string) *Scrubber {
	var ss []string
	for _, s := range secrets {
		// Also as it reads inside a %q-quoted string, which is how most
		// libraries embed a URL in their errors.
		for _, form := range []string{s, strings.Trim(strconv.Quote(s), `"`)} {
			if len(form) >= minSecret && !slices.Contains(ss, form) {
				ss = append(ss, form)
			}
		}
	}
	if len(ss) == 0 {
		return &Scrubber{}
	}
	slices.SortFunc(ss, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(ss))
	for _, s := range ss {
		pairs = append(pairs, s, Mark)
	}
	return &Scrubber{r: strings.NewReplacer(pairs...)}
}

// String returns s with every secret replaced.
func (s *Scrubber) String(text string) string {
	if s == nil || s.r == nil {
		return text
	}
	return s.r.Replace(text)
}

// Error returns err with every secret replaced in its message. The result
// still matches what err matched (errors.Is, errors.As); nil stays nil,
// and an error without a secret is returned unchanged.
func (s *Scrubber) Error(err error) error {
	if err == nil || s == nil || s.r == nil {
		return err
	}
	msg := err.Error()
	clean := s.r.Replace(msg)
	if clean == msg {
		return err
	}
	return &scrubbed{msg: clean, err: err}
}

// scrubbed is an error whose message had secrets replaced.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }

// Unwrap keeps errors.Is and errors.As working on the original chain.
// Its messages still hold the secret: callers print this error, never
// what it unwraps to.
func (e *scrubbed) Unwrap() error { return e.err }
