package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

// secretInputs are URLs and DSNs with a secret (always containing
// "S3cr3t") and what URL or DSN must keep visible.
var secretInputs = []struct {
	in, keep string
	dsn      bool
}{
	{in: "http://user:S3cr3t@registry:8081", keep: "http://user:***@registry:8081"},
	{in: "https://user:S3cr3t@registry:8081/base?x=1", keep: "https://user:***@registry:8081/base?x=1"},
	{in: "https://user:S3cr3t%40x@registry/", keep: "https://user:***@registry/"},
	{in: "https://registry/api?token=S3cr3t&x=1", keep: "https://registry/api?token=***&x=1"},
	{in: "https://registry/api?x=1&password=S3cr3t", keep: "https://registry/api?x=1&password=***"},
	{in: "https://u:S3cr3t@registry/api?access_token=S3cr3t2", keep: "https://u:***@registry/api?access_token=***"},
	{in: "http://s3.local:9000/?X-Amz-Signature=S3cr3t&X-Amz-Credential=AKIA", keep: "X-Amz-Signature=***&X-Amz-Credential=***"},
	{in: "postgres://bf:S3cr3t@db:5432/cat?sslmode=require", keep: "postgres://bf:***@db:5432/cat?sslmode=require", dsn: true},
	{in: "postgresql://bf@db/cat?password=S3cr3t&sslmode=off", keep: "postgresql://bf@db/cat?password=***&sslmode=off", dsn: true},
	{in: "host=db user=bf password=S3cr3t dbname=c", keep: "host=db user=bf password=*** dbname=c", dsn: true},
	{in: "host=db password='S3cr3t with space' dbname=c", keep: "host=db password=*** dbname=c", dsn: true},
	{in: "host=db PASSWORD = S3cr3t", keep: "host=db PASSWORD = ***", dsn: true},
	{in: "postgres://bf:S3cr3t@db:notaport/c", keep: "***", dsn: true}, // unparsable: hidden whole
}

func TestRedactHidesEverySecret(t *testing.T) {
	for _, tt := range secretInputs {
		var got string
		var secrets []string
		if tt.dsn {
			got, secrets = DSN(tt.in), DSNSecrets(tt.in)
		} else {
			got, secrets = URL(tt.in), URLSecrets(tt.in)
		}
		if strings.Contains(got, "S3cr3t") || !strings.Contains(got, tt.keep) {
			t.Errorf("redact(%q) = %q, want it to contain %q and no secret", tt.in, got, tt.keep)
		}
		// What libraries do with such a value: quote it into an error.
		sc := NewScrubber(secrets...)
		_, perr := url.Parse(tt.in)
		for _, err := range []error{
			fmt.Errorf("unable to GET %q: %w", tt.in, fs.ErrNotExist),
			fmt.Errorf("open %s: %w", tt.in, fs.ErrNotExist),
			perr,
		} {
			if err == nil {
				continue
			}
			clean := sc.Error(err)
			if strings.Contains(clean.Error(), "S3cr3t") || strings.Contains(clean.Error(), "S3cr3t%40x") {
				t.Errorf("scrubbed %q still holds the secret: %q", err, clean)
			}
			if !errors.Is(err, fs.ErrNotExist) == errors.Is(clean, fs.ErrNotExist) {
				t.Errorf("scrubbing %q changed what it matches", err)
			}
		}
	}
}

func TestURLWithoutSecretsIsUnchanged(t *testing.T) {
	for _, s := range []string{"http://registry:8081", "https://u@registry/x?sslmode=off", "s3://bucket/prefix",
		"file:///var/lib/bf", "/var/lib/bf/catalog.db", "", "a@b?c"} {
		if got := URL(s); got != s && s != "a@b?c" {
			t.Errorf("URL(%q) = %q, want it unchanged", s, got)
		}
		if got := DSN(s); got != s && s != "a@b?c" {
			t.Errorf("DSN(%q) = %q, want it unchanged", s, got)
		}
	}
}

func TestScrubberLeavesCleanErrorsAlone(t *testing.T) {
	sc := NewScrubber("S3cr3t", "ab", "")
	err := fmt.Errorf("wrapped: %w", fs.ErrNotExist)
	if sc.Error(err) != err {
		t.Fatal("an error without a secret was rewrapped")
	}
	if sc.Error(nil) != nil || (*Scrubber)(nil).Error(err) != err {
		t.Fatal("nil handling")
	}
	// Two-letter secrets are not replaced in free text.
	if got := sc.String("about S3cr3t"); got != "about ***" {
		t.Fatalf("String = %q", got)
	}
	// A secret with a quote is found inside a %q-quoted string too.
	q := NewScrubber(`pa"ss`)
	if got := q.Error(fmt.Errorf("get %q", `http://u:pa"ss@h`)).Error(); strings.Contains(got, `pa\"ss`) {
		t.Fatalf("quoted secret kept: %s", got)
	}
}

func TestHandlerScrubsMessagesAndAttributes(t *testing.T) {
	var buf bytes.Buffer
	sc := NewScrubber("S3cr3t")
	log := slog.New(Handler(slog.NewTextHandler(&buf, nil), sc)).With("url", "http://u:S3cr3t@h")
	log.Warn("failed S3cr3t", "err", errors.New(`get "http://u:S3cr3t@h/x": refused`),
		slog.Group("g", "token", "S3cr3t"), "n", 3, "any", []string{"S3cr3t"})
	if out := buf.String(); strings.Contains(out, "S3cr3t") || !strings.Contains(out, "n=3") || !strings.Contains(out, "u:***@h") {
		t.Fatalf("log line: %s", out)
	}
}
