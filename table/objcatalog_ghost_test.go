package table_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
)

// pausingBucket holds the first PutIfAbsent of a metadata version until
// release is closed: a writer frozen (SIGSTOP, a VM pause, a slow PUT)
// after it read vN and before it creates vN+1.
type pausingBucket struct {
	objstore.Bucket
	paused  chan struct{}
	release chan struct{}
	once    bool
}

func (b *pausingBucket) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	if !b.once && strings.HasSuffix(key, ".metadata.json") {
		b.once = true
		close(b.paused)
		<-b.release
	}
	return b.Bucket.PutIfAbsent(ctx, key, r)
}

// TestObjectStoreZombieCannotRecreateDeletedVersion: a zombie reads v2,
// freezes, and meanwhile the owner commits so many versions that v3 drops
// out of the metadata log and is deleted (write.metadata.delete-after-
// commit, which Big Father turns on). The zombie's create of v3 then
// finds no v3: it must still be a conflict, not a commit that rewrites the
// version hint to v3 and rolls every reader back to its stale watermarks.
func TestObjectStoreZombieCannotRecreateDeletedVersion(t *testing.T) {
	for _, idle := range []bool{true, false} {
		t.Run(map[bool]string{true: "watermark-only", false: "snapshot"}[idle], func(t *testing.T) {
			fs, err := objstore.NewFS(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			owner := table.NewObjectStoreCatalog("test", fs, nil)
			f := newFixtureOn(t, owner, fs) // v1
			ctx := context.Background()
			oc := table.NewCommitter(owner, table.CommitterOptions{})
			res, err := oc.Commit(ctx, f.tbl, f.batch(nil, 0, 10, offsetsRange(0, 10))) // v2
			if err != nil {
				t.Fatal(err)
			}
			pb := &pausingBucket{Bucket: fs, paused: make(chan struct{}), release: make(chan struct{})}
			zombie := table.NewObjectStoreCatalog("test", pb, nil)
			zt, err := zombie.LoadTable(ctx, f.tbl.Identifier())
			if err != nil {
				t.Fatal(err)
			}
			zb := idleBatch(tp0, ptr(10), 10, 11)
			if !idle {
				zb = f.batch(ptr(10), 10, 11, offsetsRange(10, 11))
			}
			done := make(chan error, 1)
			go func() {
				_, err := table.NewCommitter(zombie, table.CommitterOptions{MaxConflictRetries: 1}).Commit(ctx, zt, zb)
				done <- err
			}()
			<-pb.paused
			// The owner goes on: v3 ... v3+MetadataVersionsKept+2, so v3
			// leaves the log and is deleted.
			tbl := res.Table
			w := int64(10)
			for range table.MetadataVersionsKept + 3 {
				r, err := oc.Commit(ctx, tbl, idleBatch(tp0, ptr(w), w, w+10))
				if err != nil {
					t.Fatal(err)
				}
				tbl, w = r.Table, w+10
			}
			if ok, _ := fileExists(fs, "ns/tbl/metadata/v3.metadata.json"); ok {
				t.Fatal("v3 was not deleted: the test proves nothing")
			}
			close(pb.release)
			zerr := <-done
			loaded := mustLoad(t, f)
			if got := watermark(t, loaded); got != w {
				t.Errorf("watermark %d after the zombie's commit, want the owner's %d: the table was rolled back", got, w)
			}
			if !errors.Is(zerr, table.ErrFenced) {
				t.Errorf("the zombie's commit: %v; want it fenced (the owner moved the watermark)", zerr)
			}
			// The owner's next commit still builds on its own head.
			if _, err := oc.Commit(ctx, loaded, idleBatch(tp0, ptr(watermark(t, loaded)), watermark(t, loaded), watermark(t, loaded)+1)); err != nil {
				t.Errorf("owner's next commit: %v", err)
			}
		})
	}
}

func fileExists(b objstore.Bucket, key string) (bool, error) {
	r, err := b.Get(context.Background(), key)
	if errors.Is(err, objstore.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.Close()
	return true, nil
}

// raceAfterCreate runs hook once, right after the first metadata version
// this bucket creates: another writer acting in the moment between a
// commit's create of vN and its look at the versions above.
type raceAfterCreate struct {
	objstore.Bucket
	hook func()
	done bool
}

func (b *raceAfterCreate) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	err := b.Bucket.PutIfAbsent(ctx, key, r)
	if err == nil && !b.done && strings.HasSuffix(key, ".metadata.json") {
		b.done = true
		b.hook()
	}
	return err
}

// TestObjectStoreSharedTableCommitRightAfterAnother: two instances share
// a table, each its own partitions. Writer A creates v3; before A looks at
// the versions above, B loads v3 and commits v4 on top of it. A's v3 is
// the table's history, not a stale writer's: A's commit stands, v3 stays
// (removing it would leave v2 → v4 with a hole, and a reader probing up
// from a hint of 2 would take v2 for current), and both watermarks hold.
func TestObjectStoreSharedTableCommitRightAfterAnother(t *testing.T) {
	fs, err := objstore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bcat := table.NewObjectStoreCatalog("test", fs, nil)
	f := newFixtureOn(t, bcat, fs) // v1
	bc := table.NewCommitter(bcat, table.CommitterOptions{})
	if _, err := bc.Commit(ctx, f.tbl, idleBatch(tp1, nil, 0, 5)); err != nil { // v2
		t.Fatal(err)
	}
	var berr error
	ab := &raceAfterCreate{Bucket: fs}
	ab.hook = func() {
		bt, err := bcat.LoadTable(ctx, f.tbl.Identifier()) // v3, A's
		if err == nil {
			_, err = bc.Commit(ctx, bt, idleBatch(tp1, ptr(5), 5, 9)) // v4
		}
		berr = err
	}
	acat := table.NewObjectStoreCatalog("test", ab, nil)
	at, err := acat.LoadTable(ctx, f.tbl.Identifier())
	if err != nil {
		t.Fatal(err)
	}
	res, err := table.NewCommitter(acat, table.CommitterOptions{}).Commit(ctx, at, idleBatch(tp0, nil, 0, 10)) // v3
	if berr != nil {
		t.Fatalf("B's commit on top of A's v3: %v", berr)
	}
	if err != nil {
		t.Fatalf("A's commit, made before B's on top of it: %v", err)
	}
	if res.Table == nil {
		t.Fatal("A's commit returned no table")
	}
	if ok, _ := fileExists(fs, "ns/tbl/metadata/v3.metadata.json"); !ok {
		t.Error("A's v3 was removed although B's v4 was built on it")
	}
	wm, err := table.Watermarks(mustLoad(t, f).Metadata(), pipe)
	if err != nil {
		t.Fatal(err)
	}
	if wm[tp0] != 10 || wm[tp1] != 9 {
		t.Errorf("watermarks %v, want t/0 at 10 (A) and t/1 at 9 (B)", wm)
	}
}
