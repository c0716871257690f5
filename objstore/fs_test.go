package objstore_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/objstore/objstoretest"
)

func TestFSAcceptance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		root := t.TempDir()
		b, err := objstore.NewFS(root)
		if err != nil {
			t.Fatalf("NewFS: %v", err)
		}
		t.Cleanup(func() { assertNoTempFiles(t, root) })
		return b
	})
}

// assertNoTempFiles fails if an upload left a temporary file behind, which
// the suite cannot see because List hides them.
func assertNoTempFiles(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".bigfather-tmp-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Errorf("walk %s: %v", root, err)
	}
}

func TestNewFSRelativeRoot(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	b, err := objstore.NewFS("./warehouse/sub")
	if err != nil {
		t.Fatalf("NewFS: %v", err)
	}
	// t.TempDir may sit behind a symlink (macOS /var); compare resolved paths.
	want, err := filepath.EvalSymlinks(filepath.Join(dir, "warehouse", "sub"))
	if err != nil {
		t.Fatalf("root directory was not created: %v", err)
	}
	if got, _ := filepath.EvalSymlinks(b.Root()); got != want || !filepath.IsAbs(b.Root()) {
		t.Fatalf("Root = %q, want absolute %q", b.Root(), want)
	}
	if got := b.URL("a/b.parquet"); got != "file://"+b.Root()+"/a/b.parquet" {
		t.Fatalf("URL = %q", got)
	}
}

func TestNewFSRootIsFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := objstore.NewFS(f); err == nil {
		t.Fatal("NewFS on a regular file succeeded")
	}
	if _, err := objstore.NewFS(""); err == nil {
		t.Fatal("NewFS with empty root succeeded")
	}
}

func TestFSURLExact(t *testing.T) {
	root := t.TempDir()
	b, err := objstore.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.URL("metadata/v1.metadata.json"), "file://"+root+"/metadata/v1.metadata.json"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	if got, want := b.URL(""), "file://"+root; got != want {
		t.Fatalf("URL(\"\") = %q, want %q", got, want)
	}
}

// A key segment may not use the temporary-file prefix: such an object would
// be invisible to List.
func TestFSRejectsTempPrefixKeys(t *testing.T) {
	b, err := objstore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = b.Upload(t.Context(), "a/.bigfather-tmp-x", strings.NewReader("x"))
	if !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("Upload = %v, want ErrInvalidKey", err)
	}
}

// Temporary files of in-flight uploads must not be listed.
func TestFSListHidesTempFiles(t *testing.T) {
	root := t.TempDir()
	b, err := objstore.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "d", ".bigfather-tmp-123"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.List(t.Context(), "", func(objstore.Object) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("List returned %d objects, want the temp file hidden", n)
	}
}

// Delete prunes directories it leaves empty but never the root.
func TestFSDeletePrunesEmptyDirs(t *testing.T) {
	root := t.TempDir()
	b, err := objstore.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(t.Context(), "x/y/z/obj", strings.NewReader("1")); err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(t.Context(), "x/keep", strings.NewReader("2")); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(t.Context(), "x/y/z/obj"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "x", "y")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty directory x/y not pruned: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "x", "keep")); err != nil {
		t.Fatalf("sibling removed: %v", err)
	}
	if err := b.Delete(t.Context(), "x/keep"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("root removed: %v", err)
	}
	// Uploading into a pruned directory recreates it.
	if err := b.Upload(t.Context(), "x/y/again", strings.NewReader("3")); err != nil {
		t.Fatal(err)
	}
}

// TestFSFileModeFollowsUmask: objects are created as 0666 less the umask,
// like any file a process writes (0644 under the usual 022), not 0600, so
// other users and tools reading the warehouse can open them.
func TestFSFileModeFollowsUmask(t *testing.T) {
	for _, tc := range []struct {
		umask       int
		want, inDir fs.FileMode
	}{{0o022, 0o644, 0o755}, {0o002, 0o664, 0o775}, {0o077, 0o600, 0o700}} {
		old := syscall.Umask(tc.umask)
		root := t.TempDir()
		b, err := objstore.NewFS(root)
		if err != nil {
			syscall.Umask(old)
			t.Fatal(err)
		}
		ctx := context.Background()
		upErr := b.Upload(ctx, "d/data.parquet", strings.NewReader("x"))
		putErr := b.PutIfAbsent(ctx, "d/v1.metadata.json", strings.NewReader("y"))
		syscall.Umask(old)
		if upErr != nil || putErr != nil {
			t.Fatalf("upload: %v, put-if-absent: %v", upErr, putErr)
		}
		for _, key := range []string{"d/data.parquet", "d/v1.metadata.json"} {
			fi, err := os.Stat(filepath.Join(root, key))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tc.want {
				t.Errorf("umask %03o: %s has mode %03o, want %03o", tc.umask, key, got, tc.want)
			}
		}
		fi, err := os.Stat(filepath.Join(root, "d"))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tc.inDir {
			t.Errorf("umask %03o: directory d has mode %03o, want %03o", tc.umask, got, tc.inDir)
		}
		assertNoTempFiles(t, root)
	}
}
