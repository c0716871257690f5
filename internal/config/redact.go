package config

import (
	"maps"
	"slices"
	"strings"

	"github.com/bigfather/bigfather/internal/redact"
)

// redactedMark replaces secrets in Redacted.
const redactedMark = redact.Mark

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

	r.Kafka.SASL.Password = hide(r.Kafka.SASL.Password)
	r.SchemaRegistry.Password = hide(r.SchemaRegistry.Password)
	r.SchemaRegistry.URL = redactURL(r.SchemaRegistry.URL)
	r.Catalog.SQL.DSN = redactDSN(r.Catalog.SQL.DSN)
	r.Catalog.REST.URI = redactURL(r.Catalog.REST.URI)
	for k, v := range r.Catalog.REST.Properties {
		if secretProperty(k) {
			r.Catalog.REST.Properties[k] = hide(v)
		} else if strings.Contains(v, "://") {
			r.Catalog.REST.Properties[k] = redactURL(v)
		}
	}
	r.Warehouse.URL = redactURL(r.Warehouse.URL)
	r.Warehouse.S3.Endpoint = redactURL(r.Warehouse.S3.Endpoint)
	r.Warehouse.S3.SecretAccessKey = hide(r.Warehouse.S3.SecretAccessKey)
	r.Warehouse.S3.SessionToken = hide(r.Warehouse.S3.SessionToken)
	return r
}

func hide(s string) string {
	if s == "" {
		return ""
	}
	return redactedMark
}

// secretProperty reports whether an Iceberg catalog property holds a secret,
// like "credential", "token", "s3.secret-access-key" or
// "s3.session-token".
func secretProperty(key string) bool { return redact.SecretKey(key) }

// redactURL hides the password in a URL's user info and secret query
// parameters. A value with user info that does not parse is hidden whole,
// since it cannot be shown to be safe.
func redactURL(s string) string { return redact.URL(s) }

// redactDSN hides the password of a URL-form or keyword/value DSN.
func redactDSN(s string) string { return redact.DSN(s) }

// Secrets returns every secret of c as it may appear in text: the
// passwords, keys and tokens of their own keys, and the ones inside URLs
// and DSNs (user-info passwords, password=, secret query parameters).
// A secret.Scrubber made of them keeps them out of logs and errors.
func (c *Config) Secrets() []string {
	out := []string{c.Kafka.SASL.Password, c.SchemaRegistry.Password,
		c.Warehouse.S3.SecretAccessKey, c.Warehouse.S3.SessionToken}
	for u := range strings.SplitSeq(c.SchemaRegistry.URL, ",") {
		out = append(out, redact.URLSecrets(strings.TrimSpace(u))...)
	}
	out = append(out, redact.DSNSecrets(c.Catalog.SQL.DSN)...)
	for _, u := range []string{c.Catalog.REST.URI, c.Warehouse.URL, c.Warehouse.S3.Endpoint} {
		out = append(out, redact.URLSecrets(u)...)
	}
	for k, v := range c.Catalog.REST.Properties {
		if secretProperty(k) {
			out = append(out, v)
			// A client credential is "id:secret"; the secret alone may
			// be what a library echoes.
			if _, sec, ok := strings.Cut(v, ":"); ok {
				out = append(out, sec)
			}
		} else if strings.Contains(v, "://") {
			out = append(out, redact.URLSecrets(v)...)
		}
	}
	for _, e := range c.Enrichment {
		out = append(out, redact.URLSecrets(e.Location)...)
	}
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}
