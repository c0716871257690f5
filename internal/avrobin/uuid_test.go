package avrobin

import (
	"testing"

	"github.com/google/uuid"
)

// TestParseUUIDAgreesWithGoogleUUID checks the table-driven parser against
// github.com/google/uuid on every one-byte change of a canonical UUID: at
// 36 characters both accept exactly the dashed hex form.
func TestParseUUIDAgreesWithGoogleUUID(t *testing.T) {
	base := []byte("0123abcd-EF45-6789-aBcD-ef0123456789")
	check := func(s []byte) {
		t.Helper()
		var got [16]byte
		ok := ParseUUID(s, &got)
		want, err := uuid.ParseBytes(s)
		if ok != (err == nil) {
			t.Fatalf("parseUUID(%q) = %v, uuid.ParseBytes error %v", s, ok, err)
		}
		if ok && got != [16]byte(want) {
			t.Fatalf("parseUUID(%q) = %x, want %x", s, got, want)
		}
	}
	check(base)
	s := make([]byte, len(base))
	for i := range base {
		for c := range 256 {
			copy(s, base)
			s[i] = byte(c)
			check(s)
		}
	}
	for _, bad := range []string{"", "0123abcd-ef45-6789-abcd-ef012345678", "0123abcd-ef45-6789-abcd-ef01234567890", "0123abcdef4567890abcdef0123456789"} {
		var u [16]byte
		if ParseUUID([]byte(bad), &u) {
			t.Errorf("parseUUID(%q) accepted", bad)
		}
	}
}
