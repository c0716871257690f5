package tlsconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigfather/bigfather/internal/confkey"
)

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		path string // "" = valid
	}{
		{Config{}, ""},
		{Config{Enabled: true, CAFile: "ca.pem"}, ""},
		{Config{CAFile: "ca.pem"}, "enabled"},
		{Config{InsecureSkipVerify: true}, "enabled"},
		{Config{Enabled: true, CertFile: "c.pem"}, "cert_file"},
	} {
		errs := confkey.Errors(tc.cfg.Validate())
		switch {
		case tc.path == "" && len(errs) > 0:
			t.Errorf("%+v: %v", tc.cfg, errs[0])
		case tc.path != "" && (len(errs) != 1 || errs[0].Path != tc.path):
			t.Errorf("%+v: got %v, want one error at %q", tc.cfg, errs, tc.path)
		}
	}
}

func TestLoad(t *testing.T) {
	if c, err := (Config{}).Load(); c != nil || err != nil {
		t.Fatalf("disabled: got %v, %v; want nil, nil", c, err)
	}
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Config{Enabled: true, CAFile: notPEM}).Load(); err == nil || !strings.Contains(err.Error(), "no PEM certificates") {
		t.Fatalf("a CA file without PEM: got %v", err)
	}
	if _, err := (Config{Enabled: true, CAFile: filepath.Join(dir, "missing.pem")}).Load(); err == nil || !strings.HasPrefix(err.Error(), "ca_file: ") {
		t.Fatalf("a missing CA file: got %v", err)
	}
	c, err := Config{Enabled: true, ServerName: "kafka.internal"}.Load()
	if err != nil || c.ServerName != "kafka.internal" || c.MinVersion == 0 {
		t.Fatalf("got %+v, %v", c, err)
	}
}
