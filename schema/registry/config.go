package registry

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/bigfather/bigfather/internal/confkey"
	"github.com/bigfather/bigfather/internal/tlsconf"
)

// Config is the schema_registry section of the config file: the
// Confluent-compatible registry the records' schema ids refer to.
type Config struct {
	// URL is the registry's base URL, http or https. Required.
	URL string `yaml:"url"`
	// Username and Password are HTTP basic auth; default none.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS secures the connection for https URLs. Default disabled.
	TLS tlsconf.Config `yaml:"tls"`
	// SubjectNameStrategy is how the producers name the subject a
	// topic's value schemas are registered under: topic_name ("<topic>-value",
	// the default), record_name ("<record full name>") or
	// topic_record_name ("<topic>-<record full name>"). A record whose
	// schema id is not registered under its subject is rejected as
	// foreign-schema.
	SubjectNameStrategy string `yaml:"subject_name_strategy"`
}

// DefaultConfig returns the registry settings used for every key the file
// does not set.
func DefaultConfig() Config { return Config{SubjectNameStrategy: SubjectTopicName} }

// Validate checks the section without contacting the registry; every
// problem is a *confkey.Error naming its key.
func (c Config) Validate() error {
	var l confkey.List
	scheme, msg := confkey.HTTPURL(c.URL)
	switch {
	case c.URL == "":
		l.Add("url", "required")
	case msg != "":
		l.Add("url", "%s", msg)
	case c.TLS.Enabled && scheme != "https":
		l.Add("tls.enabled", "needs an https url")
	}
	if c.Password != "" && c.Username == "" {
		l.Add("username", "required when a password is set")
	}
	l.In("tls", c.TLS.Validate())
	if !slices.Contains(SubjectStrategies, c.SubjectNameStrategy) {
		l.Add("subject_name_strategy", "%q is invalid: want topic_name, record_name or topic_record_name", c.SubjectNameStrategy)
	}
	return l.Err()
}

// Open returns the registry client c describes, loading its TLS files;
// log receives its retry warnings. Its errors name the key path of the
// config file (schema_registry, schema_registry.tls), as kafka.tls's do.
func (c Config) Open(log *slog.Logger) (*Registry, error) {
	t, err := c.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("schema_registry.tls: %w", err)
	}
	r, err := NewRegistry(RegistryOptions{URL: c.URL, Username: c.Username, Password: c.Password, TLS: t, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("schema_registry: %w", err)
	}
	return r, nil
}
