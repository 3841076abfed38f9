package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// Storage faults are a clear startup error naming the damaged file and what
// to do, never a panic or SIGBUS half-way through replaying the log.

// raftDBState is what inspectRaftDB learns of raft.db.
type raftDBState struct {
	exists   bool
	hasState bool // any log entry or a current term
}

// inspectRaftDB opens raft.db read-only and checks every page of it
// (bbolt's consistency check), with memory faults turned into errors: a
// truncated or scribbled file otherwise panics inside bbolt, or kills the
// process with SIGBUS when a page lies past the end of the file.
func inspectRaftDB(path string) (st raftDBState, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	} else if err != nil {
		return st, fmt.Errorf("checking %s: %w", path, err)
	}
	st.exists = true
	if fi.Size() == 0 {
		return st, nil
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return st, fmt.Errorf("%w: %s is locked by another process: is another orch agent running on this data dir?", errLocked, path)
	}
	if err != nil {
		return st, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		// Pages past the end of a truncated file would fault when read.
		if tx.Size() > fi.Size() {
			return fmt.Errorf("truncated: the file has %d bytes, its pages reach %d", fi.Size(), tx.Size())
		}
		for cerr := range tx.Check() {
			return cerr
		}
		if b := tx.Bucket([]byte("logs")); b != nil {
			if k, _ := b.Cursor().First(); k != nil {
				st.hasState = true
			}
		}
		if b := tx.Bucket([]byte("conf")); b != nil {
			if v := b.Get([]byte("CurrentTerm")); len(v) == 8 && binary.BigEndian.Uint64(v) > 0 {
				st.hasState = true
			}
		}
		return nil
	})
	return st, err
}

// errLocked: the store is in use, not damaged.
var errLocked = errors.New("raft store in use")

// corruptStoreError explains a damaged Raft file and how to recover.
func corruptStoreError(what, path string, cause error) error {
	if errors.Is(cause, errLocked) {
		return cause
	}
	return fmt.Errorf("the raft %s %s is damaged: %v. This server cannot start from it. To recover: "+
		"if other servers of the cluster are healthy, stop this server, move its data dir's \"server\" directory aside "+
		"and start it again: it rejoins and copies the state from the leader (remove its old entry with "+
		"`orch operator raft remove-peer` if autopilot has not). If no healthy server is left, restore the newest "+
		"undamaged copy of the data dir, or start from a server whose store is intact and recover the others' "+
		"membership with peers.json (docs/operations.md)", what, path, cause)
}

// checkNewestSnapshot reads the newest snapshot through the snapshot
// store, which verifies its checksum. Raft, finding it unreadable, would
// silently restore an older one and replay a log that no longer reaches
// back to it: a replica missing writes. A damaged newest snapshot stops
// the start instead.
func checkNewestSnapshot(snaps raft.SnapshotStore, dir string) error {
	metas, err := snaps.List()
	if err != nil {
		return corruptStoreError("snapshot directory", filepath.Join(dir, "snapshots"), err)
	}
	// The store skips snapshots whose metadata it cannot read.
	entries, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return corruptStoreError("snapshot directory", filepath.Join(dir, "snapshots"), err)
	}
	listed := map[string]bool{}
	for _, m := range metas {
		listed[m.ID] = true
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasSuffix(e.Name(), ".tmp") && !listed[e.Name()] {
			path := filepath.Join(dir, "snapshots", e.Name())
			return corruptStoreError("snapshot", path, errors.New("its meta.json cannot be read"))
		}
	}
	if len(metas) == 0 {
		return nil
	}
	// Open verifies the state file's checksum.
	path := filepath.Join(dir, "snapshots", metas[0].ID)
	_, rc, err := snaps.Open(metas[0].ID)
	if err != nil {
		return corruptStoreError("snapshot", path, err)
	}
	return rc.Close()
}
