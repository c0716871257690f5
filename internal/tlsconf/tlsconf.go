// Package tlsconf is the tls section the config file has for every client
// it configures (kafka.tls, schema_registry.tls): the settings, their
// validation and the *tls.Config they load into.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/bigfather/bigfather/internal/confkey"
)

// Config configures a TLS client. The file fields are PEM files.
type Config struct {
	// Enabled turns TLS on; the other fields are rejected without it, so a
	// half-written TLS section cannot silently fall back to plaintext.
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the server; default the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate for mutual TLS; both
	// or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the server certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables server verification. Tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Validate checks the section without reading the files; every problem is
// a *confkey.Error naming its key.
func (c Config) Validate() error {
	var l confkey.List
	if !c.Enabled {
		// Refusing settings that would be ignored keeps a forgotten
		// "enabled: true" from meaning plaintext.
		if c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" || c.InsecureSkipVerify {
			l.Add("enabled", "must be true when other TLS settings are given")
		}
		return l.Err()
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		l.Add("cert_file", "cert_file and key_file go together: set both or neither")
	}
	return l.Err()
}

// Load reads the files into a client configuration; nil when TLS is off.
func (c Config) Load() (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	t := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in by config
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates", c.CAFile)
		}
		t.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}
