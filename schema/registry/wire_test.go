package registry

import (
	"bytes"
	"errors"
	"testing"
)

func TestSplitWire(t *testing.T) {
	cases := []struct {
		name    string
		in      []byte
		id      int32
		payload []byte
		err     error
	}{
		{"empty", nil, 0, nil, ErrTruncated},
		{"magic only", []byte{0}, 0, nil, ErrTruncated},
		{"short id", []byte{0, 0, 0, 1}, 0, nil, ErrTruncated},
		{"bad magic", []byte{1, 0, 0, 0, 1, 2}, 0, nil, ErrBadMagic},
		{"bad magic short", []byte{7}, 0, nil, ErrBadMagic},
		{"empty payload", []byte{0, 0, 0, 0, 42}, 42, []byte{}, nil},
		{"payload", []byte{0, 0, 1, 0, 2, 0xaa, 0xbb}, 65538, []byte{0xaa, 0xbb}, nil},
		{"high bit id", []byte{0, 0xff, 0xff, 0xff, 0xff, 1}, -1, []byte{1}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, payload, err := SplitWire(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if id != tc.id || !bytes.Equal(payload, tc.payload) {
				t.Errorf("got (%d, %x), want (%d, %x)", id, payload, tc.id, tc.payload)
			}
		})
	}
}

// FuzzSplitWire: any bytes either split into a header and a payload that
// is the rest of the input, or give one of the two sentinel errors.
func FuzzSplitWire(f *testing.F) {
	for _, s := range [][]byte{nil, {0}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1, 2, 3}, {1, 2, 3, 4, 5, 6}, {0, 0xff, 0xff, 0xff, 0xff}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, payload, err := SplitWire(b)
		switch {
		case err != nil:
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrBadMagic) {
				t.Fatalf("unexpected error %v", err)
			}
		case len(b) < wireHeaderLen || b[0] != 0:
			t.Fatalf("%x accepted", b)
		case !bytes.Equal(payload, b[wireHeaderLen:]) || uint32(id) != uint32(b[1])<<24|uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4]):
			t.Fatalf("%x split into %d, %x", b, id, payload)
		}
	})
}
