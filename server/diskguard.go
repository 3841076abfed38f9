package server

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/raftfsm"
)

// A full data dir must not stop the cluster from stopping the job that
// fills it. Two parts:
//
//   - diskGuard refuses, with 507 Insufficient Storage, writes that add new
//     work while the data dir's filesystem has less than DataDirMinFree
//     free; stops, client status reports, plan results, evaluations,
//     garbage collection and node liveness still go through. 507 rather
//     than 503: 503 tells clients and load balancers to retry (elsewhere),
//     but every server shares the leader's verdict and retrying cannot
//     help until an operator frees space; 507 names the cause.
//   - the Raft log keeps a reserve inside raft.db (freed pages bbolt
//     reuses before growing the file), so those writes still commit when
//     the filesystem has no byte left: a task writing into its alloc dir
//     can take the filesystem's free space but not bbolt's free pages.

// ErrInsufficientStorage refuses a write while the data dir is nearly full.
var ErrInsufficientStorage error = &statusError{507, "insufficient storage"}

const defaultMinFree = 64 << 20

// logReserve is how much free space raft.db keeps for itself: a few
// thousand stop, status and plan entries. (A variable so a benchmark can
// measure what it costs.)
var logReserve = 8 << 20

// essentialEntry reports whether a write of type t must go through even
// with the data dir nearly full: it stops or reports work, or keeps the
// cluster's view of its nodes current. 15-19 are the control channel's
// (node liveness).
func essentialEntry(t raftfsm.MessageType) bool {
	switch t {
	case raftfsm.JobDeregisterType, raftfsm.NodeStatusUpdateType, raftfsm.AllocClientUpdateType,
		raftfsm.ApplyPlanResultsType, raftfsm.EvalUpsertType, raftfsm.EvalDeleteType, raftfsm.GCDeleteType:
		return true
	}
	return t >= 15 && t <= 19
}

type diskGuard struct {
	dir     string
	minFree uint64
	logger  *slog.Logger

	mu      sync.Mutex
	checked time.Time
	low     atomic.Bool
	free    atomic.Uint64
}

func newDiskGuard(dir string, minFree uint64, logger *slog.Logger) *diskGuard {
	if minFree == 0 {
		minFree = defaultMinFree
	}
	return &diskGuard{dir: dir, minFree: minFree, logger: logger}
}

// allows refuses a non-essential write while the filesystem is low. The
// free space is re-read at most every 50 ms.
func (g *diskGuard) allows(t raftfsm.MessageType) error {
	if essentialEntry(t) {
		return nil
	}
	g.refresh(50 * time.Millisecond)
	if g.low.Load() {
		return fmt.Errorf("%w: the data dir %s has %d MiB free, below the %d MiB the server keeps; "+
			"only stops and status updates are accepted until space is freed", ErrInsufficientStorage,
			g.dir, g.free.Load()>>20, g.minFree>>20)
	}
	return nil
}

func (g *diskGuard) refresh(maxAge time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.checked) < maxAge {
		return
	}
	g.checked = time.Now()
	var st unix.Statfs_t
	if err := unix.Statfs(g.dir, &st); err != nil {
		g.logger.Warn("reading the data dir's free space", "dir", g.dir, "error", err)
		return
	}
	free := st.Bavail * uint64(st.Bsize)
	g.free.Store(free)
	low := free < g.minFree
	if low != g.low.Swap(low) {
		if low {
			g.logger.Warn("data dir nearly full: refusing new work (507) until space is freed; stops still go through",
				"dir", g.dir, "free_mib", free>>20, "min_free_mib", g.minFree>>20)
		} else {
			g.logger.Info("data dir has space again: accepting all writes", "dir", g.dir, "free_mib", free>>20)
		}
	}
}

// ensureLogReserve makes raft.db hold at least logReserve bytes of free
// pages: it writes a throwaway bucket of that size and deletes it, which
// leaves the pages allocated on disk and free for bbolt to reuse before it
// grows the file. Best effort by nature: normal log growth uses those pages
// too, and each snapshot's log compaction frees pages again. Written in
// 1 MiB transactions without fsync (one sync at the end), so a new data
// dir pays a few milliseconds and no lasting memory for it.
func ensureLogReserve(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	if db.Stats().FreeAlloc >= logReserve {
		return nil
	}
	db.NoSync = true
	bucket := []byte("orch-log-reserve")
	chunk := make([]byte, 256<<10)
	const perTx = 4
	for written := 0; written < logReserve; written += perTx * len(chunk) {
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucket)
			if err != nil {
				return err
			}
			for i := 0; i < perTx; i++ {
				if err := b.Put([]byte(fmt.Sprintf("%012d", written+i*len(chunk))), chunk); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reserving log space in %s: %w", path, err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucket); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reserving log space in %s: %w", path, err)
	}
	db.NoSync = false
	if err := db.Sync(); err != nil {
		return fmt.Errorf("reserving log space in %s: %w", path, err)
	}
	return nil
}
