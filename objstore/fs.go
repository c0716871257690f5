package objstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// tmpPrefix starts the name of every in-flight upload. List skips such names
// and keys may not use them, so a partial file is never visible as an object.
const tmpPrefix = ".bigfather-tmp-"

// FS is a Bucket on the local filesystem. Each key is a file under the root
// directory; slashes in keys become directories.
//
// A key cannot be both an object and a prefix of another object's key plus a
// slash ("a" and "a/b"), because "a" cannot be a file and a directory at once.
// Symbolic links inside the root are not followed by List.
type FS struct {
	root string // absolute, cleaned
}

var _ Bucket = (*FS)(nil)

// NewFS returns a filesystem bucket rooted at root. A relative root is made
// absolute against the working directory, and the directory is created if
// it is missing.
func NewFS(root string) (*FS, error) {
	if root == "" {
		return nil, errors.New("filesystem bucket: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("filesystem bucket %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("filesystem bucket %q: %w", abs, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("filesystem bucket %q: %w", abs, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("filesystem bucket %q: not a directory", abs)
	}
	return &FS{root: abs}, nil
}

// Root returns the absolute root directory.
func (b *FS) Root() string { return b.root }

// path validates key and returns its absolute file path.
func (b *FS) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(seg, tmpPrefix) {
			return "", fmt.Errorf("%w %q: segment starts with reserved %q", ErrInvalidKey, key, tmpPrefix)
		}
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}

// Upload writes r to a hidden temporary file next to key and renames it into
// place once it is complete and synced, so readers see the whole object or
// nothing.
func (b *FS) Upload(ctx context.Context, key string, r io.Reader) error {
	p, err := b.path(key)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	tmp, err := b.writeTemp(ctx, p, r)
	if err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("upload %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

// PutIfAbsent writes r to a hidden temporary file and hard-links it to key.
// link(2) fails with EEXIST when the name is taken, which makes the create
// atomic against concurrent writers (unlike rename, which replaces) while the
// content still appears complete.
//
// An error other than ErrExists that happens after the link (removing the
// temporary name, syncing the directory) leaves the outcome unknown: the
// object may exist. Callers treat it like an S3 timeout and re-read.
func (b *FS) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	p, err := b.path(key)
	if err != nil {
		return fmt.Errorf("put-if-absent: %w", err)
	}
	tmp, err := b.writeTemp(ctx, p, r)
	if err != nil {
		return fmt.Errorf("put-if-absent %s: %w", key, err)
	}
	linkErr := os.Link(tmp, p)
	// The temp name is removed whatever happened: on success the object keeps
	// the data alive through its own link.
	rmErr := os.Remove(tmp)
	if linkErr != nil {
		if errors.Is(linkErr, fs.ErrExist) {
			return fmt.Errorf("put-if-absent %s: %w", key, ErrExists)
		}
		return fmt.Errorf("put-if-absent %s: %w", key, linkErr)
	}
	if rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		return fmt.Errorf("put-if-absent %s: remove temporary file: %w", key, rmErr)
	}
	// The link is what callers rely on after a crash; make the directory
	// entry durable before reporting success.
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("put-if-absent %s: %w", key, err)
	}
	return nil
}

// writeTemp copies r into a synced temporary file in the directory of final
// and returns its path. On error nothing is left behind.
func (b *FS) writeTemp(ctx context.Context, final string, r io.Reader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", context.Cause(ctx)
	}
	f, err := b.createTemp(filepath.Dir(final))
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		_ = f.Close()
		_ = os.Remove(tmp)
		return "", err
	}
	if _, err := io.Copy(f, ctxReader{ctx: ctx, r: r}); err != nil {
		return fail(err)
	}
	// Data must reach the disk before the name does, or a crash could leave a
	// visible object with missing content.
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	// A cancellation that raced with the final read still aborts the write.
	if err := ctx.Err(); err != nil {
		_ = os.Remove(tmp)
		return "", context.Cause(ctx)
	}
	return tmp, nil
}

// createTemp creates a temporary file in dir, creating dir first. Delete
// prunes empty directories, so a concurrent Delete can remove dir between
// MkdirAll and the create; retrying a few times closes that window.
func (b *FS) createTemp(dir string) (*os.File, error) {
	var err error
	for range 5 {
		if err = mkdirAllSynced(dir); err != nil {
			return nil, err
		}
		var f *os.File
		f, err = openTemp(dir)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, err
}

// openTemp creates a new file with a random name in dir. Unlike
// os.CreateTemp (always 0600) it asks for 0666, so the object ends up with
// the process umask's mode, 0644 by default, like any file the user's tools
// write: a warehouse is meant to be read by other users and programs.
func openTemp(dir string) (*os.File, error) {
	var err error
	for range 10 {
		name := filepath.Join(dir, tmpPrefix+strconv.FormatUint(rand.Uint64(), 36))
		var f *os.File
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, err
}

// Get opens key for reading.
func (b *FS) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := b.path(key)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, context.Cause(ctx))
	}
	f, err := os.Open(p)
	if err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("get %s: %w", key, ErrNotExist)
		}
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		// A directory is only a key prefix, never an object.
		_ = f.Close()
		return nil, fmt.Errorf("get %s: %w", key, ErrNotExist)
	}
	return f, nil
}

// List walks the directories under prefix. Sibling entries are visited in
// the lexical order of the keys they lead to (a directory "d" sorts as
// "d/"), which is not the order of their names: key "a-c" sorts before
// "a/b" because '-' < '/', yet name "a" sorts before "a-c".
func (b *FS) List(ctx context.Context, prefix string, fn func(Object) error) error {
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	// Start at the deepest directory that prefix names completely.
	dirKey := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dirKey = prefix[:i+1]
	}
	if err := b.walk(ctx, dirKey, prefix, fn); err != nil {
		return fmt.Errorf("list %q: %w", prefix, err)
	}
	return nil
}

type fsEntry struct {
	name   string
	sortAs string
	dir    bool
}

// walk lists directory dirKey ("" or ending in "/") recursively, calling fn
// for every regular file whose key starts with prefix.
func (b *FS) walk(ctx context.Context, dirKey, prefix string, fn func(Object) error) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	dir := filepath.Join(b.root, filepath.FromSlash(dirKey))
	des, err := os.ReadDir(dir)
	if err != nil {
		if isNotExist(err) {
			// The directory vanished (or never existed): it holds no objects.
			return nil
		}
		return err
	}
	entries := make([]fsEntry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		switch {
		case de.IsDir():
			entries = append(entries, fsEntry{name: name, sortAs: name + "/", dir: true})
		case de.Type().IsRegular():
			entries = append(entries, fsEntry{name: name, sortAs: name})
		}
	}
	slices.SortFunc(entries, func(x, y fsEntry) int { return cmp.Compare(x.sortAs, y.sortAs) })
	for _, e := range entries {
		key := dirKey + e.sortAs
		if e.dir {
			// Descend only if the subtree can hold keys with the prefix.
			if strings.HasPrefix(key, prefix) || strings.HasPrefix(prefix, key) {
				if err := b.walk(ctx, key, prefix, fn); err != nil {
					return err
				}
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, e.name))
		if err != nil {
			if isNotExist(err) {
				continue // deleted while listing
			}
			return err
		}
		if err := fn(Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes key, then prunes directories left empty up to the root so
// deleted partitions do not accumulate as empty directory trees.
func (b *FS) Delete(ctx context.Context, key string) error {
	p, err := b.path(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, context.Cause(ctx))
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if fi.IsDir() {
		// A directory is a prefix, not an object: there is nothing to delete.
		return nil
	}
	if err := os.Remove(p); err != nil && !isNotExist(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	for dir := filepath.Dir(p); dir != b.root && strings.HasPrefix(dir, b.root); dir = filepath.Dir(dir) {
		// os.Remove fails on a non-empty directory, which ends the pruning;
		// that failure is the expected stop condition, not an error.
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// URL returns "file://" followed by the absolute path of key.
func (b *FS) URL(key string) string {
	root := filepath.ToSlash(b.root)
	if key == "" {
		return "file://" + root
	}
	return "file://" + strings.TrimSuffix(root, "/") + "/" + key
}

// isNotExist also treats ENOTDIR as missing: for key "a/b" where "a" is a
// file, no object "a/b" can exist.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// mkdirAllSynced is os.MkdirAll that also fsyncs the parent of every
// directory it creates: a file synced into a directory whose own entry was
// lost in a crash is lost with it.
func mkdirAllSynced(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSynced(parent); err != nil {
			return err
		}
	}
	// 0777 less the umask (0755 by default), like the files' 0666.
	if err := os.Mkdir(dir, 0o777); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created concurrently by another writer
		}
		return err
	}
	return syncDir(parent)
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return d.Close()
}
