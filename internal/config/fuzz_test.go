package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that every
// rejection is an ErrInvalid naming what is wrong.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full, "flush.max_latency=2s")
	f.Add([]byte(minimal), "tables[1].topic=x")
	f.Add([]byte("a: &a [*a]\nkafka: {brokers: &b [*b]}\ntables: &t [*t]\n"), "kafka.tls.enabled=true")
	f.Add([]byte("pipeline: ${X:-y}$$\n"), "=")
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		cfg, err := Parse(data, set)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if len(Errors(err)) == 0 {
				t.Fatalf("error is not an *Error: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config Validate rejects: %v", err)
		}
		_ = cfg.Redacted()
	})
}
