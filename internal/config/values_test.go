package config

import (
	"math"
	"testing"
	"time"

	"github.com/bigfather/bigfather/ingest"
	"gopkg.in/yaml.v3"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "1024", want: 1024},
		{in: "128MiB", want: 128 << 20},
		{in: "64KB", want: 64_000},
		{in: "1GiB", want: 1 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "3TB", want: 3e12},
		{in: "7MB", want: 7e6},
		{in: "1GB", want: 1e9},
		{in: "1.5GiB", want: 3 << 29},
		{in: "0.5KB", want: 500},
		{in: "1 MiB", want: 1 << 20},
		{in: " 5kib ", want: 5 << 10},
		{in: "10B", want: 10},
		{in: "9223372036854775807", want: math.MaxInt64},
		{in: "", wantErr: true},
		{in: "MiB", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "-1MiB", wantErr: true},
		{in: "12XB", wantErr: true},
		{in: "1.2.3MB", wantErr: true},
		{in: "1e3", wantErr: true},
		{in: "9223372036854775808", wantErr: true},
		{in: "9999999TiB", wantErr: true},
		{in: "99999999999.5TiB", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseByteSize(%q) = %d, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{1500, "1500B"},
		{1536, "1536B"},
		{50 * MiB, "50MiB"},
		{128 * MiB, "128MiB"},
		{2 * GiB, "2GiB"},
		{3 * TB, "3TB"},
		{1024 * TiB, "1024TiB"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
	// Whatever String picks must parse back to the same size.
	for _, b := range []ByteSize{1, 999, 1000, 1023, 1024, 4096, 1e6, 3 * MiB, 5*GiB + 1, math.MaxInt64} {
		got, err := ParseByteSize(b.String())
		if err != nil || got != b {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", b.String(), got, err, int64(b))
		}
	}
}

func TestByteSizeYAML(t *testing.T) {
	var v struct {
		A ByteSize `yaml:"a"`
		B ByteSize `yaml:"b"`
	}
	if err := yaml.Unmarshal([]byte("a: 1048576\nb: \"64KB\"\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != MiB || v.B != 64*KB {
		t.Fatalf("got a=%d b=%d, want %d and %d", v.A, v.B, MiB, 64*KB)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a: 1MiB\nb: 64KB\n"; string(out) != want {
		t.Fatalf("marshal = %q, want %q", out, want)
	}
	if err := yaml.Unmarshal([]byte("a: [1]\n"), &v); err == nil {
		t.Fatal("a list as a size: want error")
	}
}

func TestParseStartPosition(t *testing.T) {
	at := time.Date(2024, 3, 1, 12, 30, 0, 500, time.FixedZone("", 3600))
	tests := []struct {
		in      string
		want    ingest.StartPosition
		wantErr bool
	}{
		{in: "earliest", want: ingest.StartPosition{Kind: ingest.StartEarliest}},
		{in: "latest", want: ingest.StartPosition{Kind: ingest.StartLatest}},
		{in: "2024-03-01T12:30:00.0000005+01:00", want: ingest.StartPosition{Kind: ingest.StartTimestamp, At: at}},
		{in: "Earliest", wantErr: true},
		{in: "2024-03-01", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ingest.ParseStartPosition(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ingest.ParseStartPosition(%q) = %+v, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got.Kind != tt.want.Kind || !got.At.Equal(tt.want.At) {
			t.Errorf("ingest.ParseStartPosition(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if back, err := ingest.ParseStartPosition(got.String()); err != nil || !back.At.Equal(got.At) || back.Kind != got.Kind {
			t.Errorf("round trip of %q through %q = %+v, %v", tt.in, got.String(), back, err)
		}
	}
}
