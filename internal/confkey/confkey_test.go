package confkey

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// A section's problems keep their keys through In, under the path of the
// section that holds them; an error that names no key belongs to the
// section itself.
func TestInPrefixesTheSectionPath(t *testing.T) {
	var inner List
	inner.Add("region", "required")
	inner.Add(Index("columns", 1)+".name", "required")
	var l List
	l.In("warehouse.s3", inner.Err())
	l.In("catalog", errors.New("unreadable"))
	l.In("flush", nil)
	got := make([]string, len(l))
	for i, e := range l {
		got[i] = e.Error()
	}
	want := []string{"warehouse.s3.region: required", "warehouse.s3.columns[1].name: required", "catalog: unreadable"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if (List{}).Err() != nil {
		t.Fatal("an empty list is an error")
	}
}

func TestHostPortAndHTTPURL(t *testing.T) {
	for s, bad := range map[string]bool{"127.0.0.1:9092": false, "kafka:http": true, "nohost": true, "a b:1": true} {
		if got := HostPort(s) != ""; got != bad {
			t.Errorf("HostPort(%q) reports a problem: %v, want %v", s, got, bad)
		}
	}
	if scheme, msg := HTTPURL("https://u:secret@h:1/p"); scheme != "https" || msg != "" {
		t.Errorf("HTTPURL(https) = %q, %q", scheme, msg)
	}
	for _, s := range []string{"ftp://h", "http://", "catalog:8181"} {
		if _, msg := HTTPURL(s); msg == "" {
			t.Errorf("HTTPURL(%q) accepted", s)
		}
	}
	if _, msg := HTTPURL("ftp://u:secret@h"); strings.Contains(msg, "secret") {
		t.Errorf("message %q echoes the URL", msg)
	}
}
