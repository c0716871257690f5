// Package objstoretest is the acceptance suite every objstore.Bucket
// provider must pass. Each provider's tests call Run with a constructor for
// an empty bucket, so the filesystem, gofakes3 and real S3 servers are held
// to one contract.
package objstoretest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/bigfather/bigfather/objstore"
)

// LargeSize is the body size of the streaming round trip: larger than four
// 5 MiB parts, and not a multiple of a part, so S3 providers configured
// with PartSize 5 MiB exercise multipart upload including a short last part.
const LargeSize = 20<<20 + 12345

var errInjected = errors.New("injected reader failure")

// Run runs the acceptance suite. newBucket must return an empty bucket that
// no other test uses; it may register clean-up with t.Cleanup.
func Run(t *testing.T, newBucket func(t *testing.T) objstore.Bucket) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b objstore.Bucket)
	}{
		{"UploadGetLarge", testUploadGetLarge},
		{"UploadGetSmallAndEmpty", testUploadGetSmallAndEmpty},
		{"PutIfAbsentConcurrent", testPutIfAbsentConcurrent},
		{"PutIfAbsentAfterUpload", testPutIfAbsentAfterUpload},
		{"GetMissing", testGetMissing},
		{"List", testList},
		{"ListCallbackError", testListCallbackError},
		{"Delete", testDelete},
		{"UploadReaderFails", testUploadReaderFails},
		{"UploadCancelled", testUploadCancelled},
		{"Writer", testWriter},
		{"WriterAbort", testWriterAbort},
		{"InvalidKeys", testInvalidKeys},
		{"URL", testURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBucket(t))
		})
	}
}

// gen returns a deterministic pseudo-random stream of n bytes, so large
// bodies are generated on the fly instead of held in memory.
func gen(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func sum(t *testing.T, r io.Reader) ([32]byte, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, n
}

// getAll reads key fully; it fails the test on any error.
func getAll(t *testing.T, b objstore.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q) read: %v", key, err)
	}
	return data
}

func upload(t *testing.T, b objstore.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.Upload(t.Context(), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("Upload(%q): %v", key, err)
	}
}

func listAll(t *testing.T, b objstore.Bucket, prefix string) []objstore.Object {
	t.Helper()
	var objs []objstore.Object
	err := b.List(t.Context(), prefix, func(o objstore.Object) error {
		objs = append(objs, o)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return objs
}

func keys(objs []objstore.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Key
	}
	return out
}

// assertAbsent checks that key cannot be read and is not listed.
func assertAbsent(t *testing.T, b objstore.Bucket, key string) {
	t.Helper()
	rc, err := b.Get(t.Context(), key)
	if err == nil {
		rc.Close()
		t.Fatalf("Get(%q) after failed write: object is visible", key)
	}
	if !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Get(%q) = %v, want ErrNotExist", key, err)
	}
	if objs := listAll(t, b, ""); len(objs) != 0 {
		t.Fatalf("List after failed write = %v, want nothing", keys(objs))
	}
}

func testUploadGetLarge(t *testing.T, b objstore.Bucket) {
	const key = "data/large.bin"
	want, _ := sum(t, gen(1, LargeSize))
	if err := b.Upload(t.Context(), key, gen(1, LargeSize)); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	rc, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got, n := sum(t, rc)
	if err := rc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n != LargeSize || got != want {
		t.Fatalf("round trip: got %d bytes sha256 %x, want %d bytes sha256 %x", n, got, LargeSize, want)
	}
	objs := listAll(t, b, "data/")
	if len(objs) != 1 || objs[0].Key != key || objs[0].Size != LargeSize {
		t.Fatalf("List = %+v, want one object %q of %d bytes", objs, key, LargeSize)
	}
}

func testUploadGetSmallAndEmpty(t *testing.T, b objstore.Bucket) {
	for _, tc := range []struct {
		key  string
		data []byte
	}{
		{"small", []byte("hello, lakehouse")},
		{"empty", nil},
		{"deep/a/b/c/d.json", []byte(`{"x":1}`)},
		{"spaces and = signs/part=1.parquet", []byte("p")},
	} {
		upload(t, b, tc.key, tc.data)
		if got := getAll(t, b, tc.key); !bytes.Equal(got, tc.data) {
			t.Errorf("Get(%q) = %q, want %q", tc.key, got, tc.data)
		}
	}
}

func testPutIfAbsentConcurrent(t *testing.T, b objstore.Bucket) {
	const key, writers = "metadata/v1.metadata.json", 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			<-start
			body := strings.NewReader(fmt.Sprintf(`{"writer":%d}`, i))
			errs[i] = b.PutIfAbsent(t.Context(), key, body)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("writers %d and %d both won PutIfAbsent", winner, i)
			}
			winner = i
		case !errors.Is(err, objstore.ErrExists):
			t.Fatalf("writer %d: %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer won PutIfAbsent: %v", errs)
	}
	if got, want := string(getAll(t, b, key)), fmt.Sprintf(`{"writer":%d}`, winner); got != want {
		t.Fatalf("content = %q, want the winner's %q", got, want)
	}
	if objs := listAll(t, b, ""); len(objs) != 1 {
		t.Fatalf("List = %v, want exactly the one object", keys(objs))
	}
}

func testPutIfAbsentAfterUpload(t *testing.T, b objstore.Bucket) {
	upload(t, b, "k", []byte("first"))
	err := b.PutIfAbsent(t.Context(), "k", strings.NewReader("second"))
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("PutIfAbsent over existing = %v, want ErrExists", err)
	}
	if got := string(getAll(t, b, "k")); got != "first" {
		t.Fatalf("content = %q, want it untouched", got)
	}
	// A different key still succeeds.
	if err := b.PutIfAbsent(t.Context(), "k2", strings.NewReader("x")); err != nil {
		t.Fatalf("PutIfAbsent new key: %v", err)
	}
}

func testGetMissing(t *testing.T, b objstore.Bucket) {
	upload(t, b, "dir/obj", []byte("x"))
	// "dir" is only a prefix of an object, never an object itself.
	for _, key := range []string{"missing", "dir", "dir/obj/below", "nodir/obj"} {
		rc, err := b.Get(t.Context(), key)
		if err == nil {
			rc.Close()
			t.Errorf("Get(%q) succeeded, want ErrNotExist", key)
			continue
		}
		if !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("Get(%q) = %v, want ErrNotExist", key, err)
		}
	}
}

func testList(t *testing.T, b objstore.Bucket) {
	// Chosen so that lexical key order differs from a naive directory walk:
	// '-' (0x2d) < '/' (0x2f) < '0' (0x30).
	bodies := map[string]string{
		"list/a-c":     "1",
		"list/a/b":     "22",
		"list/a/c/d":   "333",
		"list/a0":      "4444",
		"list/b":       "55555",
		"listx":        "6",
		"other/x":      "7",
		"list/b.extra": "88",
	}
	for k, v := range bodies {
		upload(t, b, k, []byte(v))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"list/", []string{"list/a-c", "list/a/b", "list/a/c/d", "list/a0", "list/b", "list/b.extra"}},
		{"list/a", []string{"list/a-c", "list/a/b", "list/a/c/d", "list/a0"}},
		{"list/a/", []string{"list/a/b", "list/a/c/d"}},
		{"list/b", []string{"list/b", "list/b.extra"}},
		{"list", []string{"list/a-c", "list/a/b", "list/a/c/d", "list/a0", "list/b", "list/b.extra", "listx"}},
		{"", []string{"list/a-c", "list/a/b", "list/a/c/d", "list/a0", "list/b", "list/b.extra", "listx", "other/x"}},
		{"nothing/", nil},
		{"list/zz", nil},
	} {
		objs := listAll(t, b, tc.prefix)
		if got := keys(objs); !equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
			continue
		}
		for _, o := range objs {
			if o.Size != int64(len(bodies[o.Key])) {
				t.Errorf("List(%q): %s size %d, want %d", tc.prefix, o.Key, o.Size, len(bodies[o.Key]))
			}
			if o.ModTime.IsZero() {
				t.Errorf("List(%q): %s has zero ModTime", tc.prefix, o.Key)
			}
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testListCallbackError(t *testing.T, b objstore.Bucket) {
	upload(t, b, "a", []byte("1"))
	upload(t, b, "b", []byte("2"))
	stop := errors.New("stop")
	calls := 0
	err := b.List(t.Context(), "", func(objstore.Object) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("List = %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Fatalf("callback called %d times after returning an error, want 1", calls)
	}
}

func testDelete(t *testing.T, b objstore.Bucket) {
	upload(t, b, "del/one", []byte("1"))
	upload(t, b, "del/two", []byte("2"))
	if err := b.Delete(t.Context(), "del/one"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.Get(t.Context(), "del/one"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Get after Delete = %v, want ErrNotExist", err)
	}
	if got := keys(listAll(t, b, "")); !equal(got, []string{"del/two"}) {
		t.Fatalf("List after Delete = %q, want [del/two]", got)
	}
	for _, key := range []string{"del/one", "never/existed", "del"} {
		if err := b.Delete(t.Context(), key); err != nil {
			t.Fatalf("Delete(%q) of missing key = %v, want nil", key, err)
		}
	}
	if err := b.Delete(t.Context(), "del/two"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := listAll(t, b, ""); len(got) != 0 {
		t.Fatalf("List after deleting everything = %q", keys(got))
	}
	// The key is reusable after a delete.
	if err := b.PutIfAbsent(t.Context(), "del/one", strings.NewReader("again")); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
}

// failingReader yields n generated bytes, then errInjected.
func failingReader(n int64) io.Reader {
	return io.MultiReader(gen(2, n), iotestErrReader{})
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errInjected }

func testUploadReaderFails(t *testing.T, b objstore.Bucket) {
	// 10 bytes fails inside the first part; 12 MiB fails after S3 providers
	// have started a multipart upload with parts already sent.
	for _, n := range []int64{0, 10, 12 << 20} {
		key := fmt.Sprintf("fail/%d.bin", n)
		err := b.Upload(t.Context(), key, failingReader(n))
		if !errors.Is(err, errInjected) {
			t.Fatalf("Upload with reader failing after %d bytes = %v, want the reader's error", n, err)
		}
		assertAbsent(t, b, key)
	}
	// PutIfAbsent is held to the same rule.
	err := b.PutIfAbsent(t.Context(), "fail/pia", failingReader(100))
	if !errors.Is(err, errInjected) {
		t.Fatalf("PutIfAbsent with failing reader = %v, want the reader's error", err)
	}
	assertAbsent(t, b, "fail/pia")
}

// cancelReader cancels its context once it has yielded after bytes, then
// keeps yielding, so only the provider's own cancellation handling can stop
// the upload.
type cancelReader struct {
	r      io.Reader
	after  int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if c.read >= c.after {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.read += int64(n)
	return n, err
}

func testUploadCancelled(t *testing.T, b objstore.Bucket) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Upload(ctx, "cancelled/before", strings.NewReader("x")); err == nil {
		t.Fatal("Upload with cancelled context succeeded")
	}
	assertAbsent(t, b, "cancelled/before")

	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	r := &cancelReader{r: gen(3, LargeSize), after: 11 << 20, cancel: cancel}
	if err := b.Upload(ctx, "cancelled/during", r); err == nil {
		t.Fatal("Upload cancelled mid-stream succeeded")
	}
	assertAbsent(t, b, "cancelled/during")
}

func testWriter(t *testing.T, b objstore.Bucket) {
	const key = "writer/stream.bin"
	const size = 11<<20 + 7
	w := objstore.NewWriter(t.Context(), b, key)
	// Odd-sized writes, as an encoder would issue them.
	src := gen(4, size)
	buf := make([]byte, 300_001)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				t.Fatalf("Write: %v", err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			t.Fatalf("generator: %v", rerr)
		}
	}
	if got := w.Written(); got != size {
		t.Fatalf("Written = %d, want %d", got, size)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	want, _ := sum(t, gen(4, size))
	rc, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	if got, n := sum(t, rc); got != want || n != size {
		t.Fatalf("round trip through Writer: %d bytes, hash mismatch=%v", n, got != want)
	}
	if _, err := w.Write([]byte("late")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	w.Abort(errors.New("too late")) // after a successful Close: no effect
	if _, err := b.Get(t.Context(), key); err != nil {
		t.Fatalf("Abort after Close removed the object: %v", err)
	}
}

func testWriterAbort(t *testing.T, b objstore.Bucket) {
	for _, tc := range []struct {
		name  string
		bytes int64
	}{
		{"BeforeWrite", 0},
		{"SmallBody", 1000},
		{"AfterParts", 12 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "abort/" + tc.name
			w := objstore.NewWriter(t.Context(), b, key)
			if _, err := io.Copy(w, gen(5, tc.bytes)); err != nil {
				t.Fatalf("Write: %v", err)
			}
			cause := errors.New("encoder failed")
			w.Abort(cause)
			assertAbsent(t, b, key)
			if _, err := w.Write([]byte("x")); err == nil {
				t.Fatal("Write after Abort succeeded")
			}
			if err := w.Close(); err == nil {
				t.Fatal("Close after Abort returned nil")
			}
		})
	}
}

func testInvalidKeys(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	for _, key := range []string{"", "/abs", "../escape", "a/../../b", "a//b", "a/./b", "trailing/", ".", ".."} {
		if err := b.Upload(ctx, key, strings.NewReader("x")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Upload(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := b.PutIfAbsent(ctx, key, strings.NewReader("x")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("PutIfAbsent(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := b.Get(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := b.Delete(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"/abs", "../", "a/../b/"} {
		err := b.List(ctx, prefix, func(objstore.Object) error { return nil })
		if !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("List(%q) = %v, want ErrInvalidKey", prefix, err)
		}
	}
	if objs := listAll(t, b, ""); len(objs) != 0 {
		t.Fatalf("invalid keys created objects: %v", keys(objs))
	}
}

func testURL(t *testing.T, b objstore.Bucket) {
	u := b.URL("data/part-0.parquet")
	if !strings.HasPrefix(u, "file:///") && !strings.HasPrefix(u, "s3://") {
		t.Fatalf("URL = %q, want file:/// or s3:// scheme", u)
	}
	if !strings.HasSuffix(u, "/data/part-0.parquet") {
		t.Fatalf("URL = %q, want it to end with the key", u)
	}
	base := strings.TrimSuffix(u, "data/part-0.parquet")
	if got := b.URL("metadata/v1.metadata.json"); got != base+"metadata/v1.metadata.json" {
		t.Fatalf("URL of a second key = %q, want the same base %q", got, base)
	}
	if got := b.URL(""); got+"/" != base {
		t.Fatalf("URL(\"\") = %q, want the root %q without the trailing slash", got, base)
	}
}
