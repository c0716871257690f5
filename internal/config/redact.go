package config

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// redactedMark replaces secrets in Redacted.
const redactedMark = "***"

// Redacted returns a deep copy of c that is safe to log or print: the SASL,
// registry and S3 secrets, passwords in URLs and DSNs, and REST catalog
// properties that look like credentials (credential, token, secret,
// password) are replaced by "***". An empty secret stays empty, so the copy
// still shows which secrets are set. c is not modified.
func (c *Config) Redacted() Config {
	r := *c
	r.Kafka.Brokers = slices.Clone(c.Kafka.Brokers)
	r.Tables = slices.Clone(c.Tables)
	r.Catalog.REST.Properties = maps.Clone(c.Catalog.REST.Properties)

	r.Kafka.SASL.Password = redact(r.Kafka.SASL.Password)
	r.SchemaRegistry.Password = redact(r.SchemaRegistry.Password)
	r.SchemaRegistry.URL = redactURL(r.SchemaRegistry.URL)
	r.Catalog.SQL.DSN = redactDSN(r.Catalog.SQL.DSN)
	r.Catalog.REST.URI = redactURL(r.Catalog.REST.URI)
	for k, v := range r.Catalog.REST.Properties {
		if secretProperty(k) {
			r.Catalog.REST.Properties[k] = redact(v)
		} else if strings.Contains(v, "://") {
			r.Catalog.REST.Properties[k] = redactURL(v)
		}
	}
	r.Warehouse.URL = redactURL(r.Warehouse.URL)
	r.Warehouse.S3.Endpoint = redactURL(r.Warehouse.S3.Endpoint)
	r.Warehouse.S3.SecretAccessKey = redact(r.Warehouse.S3.SecretAccessKey)
	r.Warehouse.S3.SessionToken = redact(r.Warehouse.S3.SessionToken)
	return r
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redactedMark
}

// secretProperty reports whether an Iceberg catalog property holds a secret,
// like "credential", "token", "s3.secret-access-key" or
// "s3.session-token".
func secretProperty(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"credential", "token", "secret", "password", "passwd"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// redactURL hides the password in a URL's user info. A value that does not
// parse as a URL is hidden whole, since it cannot be shown to be safe.
func redactURL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return redactedMark
	}
	if u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	// The password is swapped after formatting because url would
	// percent-encode the mark. A username cannot contain an unescaped ':',
	// so the first ":x@" is the password.
	u.User = url.UserPassword(u.User.Username(), "x")
	return strings.Replace(u.String(), ":x@", ":"+redactedMark+"@", 1)
}

// dsnPassword matches password=... in a keyword/value DSN ("host=h
// password='x y' dbname=d"), quoted or not.
var dsnPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)`)

// redactDSN hides the password of a URL-form or keyword/value DSN.
func redactDSN(s string) string {
	if strings.Contains(s, "://") {
		s = redactURL(s)
	}
	return dsnPassword.ReplaceAllString(s, "${1}"+redactedMark)
}
