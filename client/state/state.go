// Package state persists what the client needs to survive its own restart:
// the node ID, the allocations it runs, and each task's driver handle and
// last TaskState. It is a bbolt file in the data dir.
//
// Writes are not fsynced (bbolt NoSync): the state only has to outlive the
// agent process, which the page cache guarantees; a power loss kills the
// tasks too. The node ID, which must outlive reboots, is synced explicitly.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

var (
	bucketNode   = []byte("node")
	bucketAllocs = []byte("allocs")
	bucketPorts  = []byte("ports")
	keyNodeID    = []byte("id")
	keyAlloc     = []byte("alloc")
	keyHooks     = []byte("hooks")
	taskPrefix   = "task:"
)

// TaskLocal is one task's persisted client-side state.
type TaskLocal struct {
	// Handle is nil when no driver task is running (not started yet, dead,
	// or waiting out a restart delay).
	Handle *drivers.TaskHandle `json:"Handle"`
	State  *structs.TaskState  `json:"State"`
	// Restart is the restart tracker's window, so that a restarted agent
	// keeps counting attempts against the task's restart policy.
	Restart *RestartWindow `json:"Restart,omitempty"`
	// Hooks is each task hook's persisted state, by hook name.
	Hooks map[string]*hooks.TaskHookState `json:"Hooks,omitempty"`
}

// RestartWindow is a restart tracker's progress through its policy interval.
type RestartWindow struct {
	Count       int       `json:"Count"`
	WindowStart time.Time `json:"WindowStart"`
	// NextRestart is when a task waiting out its restart delay is due to
	// start again; zero when no restart is pending.
	NextRestart time.Time `json:"NextRestart,omitzero"`
}

// AllocLocal is one persisted allocation with its tasks.
type AllocLocal struct {
	Alloc *structs.Allocation
	Tasks map[string]*TaskLocal
	// Hooks is each alloc hook's persisted state, by hook name.
	Hooks map[string]*hooks.AllocHookState
}

// DB is the client's state file.
type DB struct {
	db *bolt.DB
}

// Open opens (creating) the state file at path. A file bbolt cannot read is
// moved aside rather than blocking the agent forever; the client then starts
// with a fresh node.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating state dir: %w", err)
	}
	opts := &bolt.Options{Timeout: time.Second, NoSync: true}
	db, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("state file %s is locked by another agent: %w", path, err)
		}
		aside := path + ".corrupt." + strconv.FormatInt(time.Now().Unix(), 10)
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("opening state file: %w", err)
		}
		if db, err = bolt.Open(path, 0o600, opts); err != nil {
			return nil, fmt.Errorf("opening fresh state file: %w", err)
		}
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketNode, bucketAllocs, bucketPorts} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising state file: %w", err)
	}
	return &DB{db: db}, nil
}

// Close closes the file.
func (d *DB) Close() error { return d.db.Close() }

// NodeID returns the persisted node ID, "" when none was stored.
func (d *DB) NodeID() (string, error) {
	var id string
	err := d.db.View(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketNode).Get(keyNodeID))
		return nil
	})
	return id, err
}

// PutNodeID stores the node ID durably.
func (d *DB) PutNodeID(id string) error {
	if err := d.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNode).Put(keyNodeID, []byte(id))
	}); err != nil {
		return fmt.Errorf("storing node ID: %w", err)
	}
	if err := d.db.Sync(); err != nil {
		return fmt.Errorf("syncing node ID: %w", err)
	}
	return nil
}

// PutAlloc stores (replacing) an allocation, keeping its tasks.
func (d *DB) PutAlloc(a *structs.Allocation) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding alloc %s: %w", a.ID, err)
	}
	if err := d.db.Update(func(tx *bolt.Tx) error {
		ab, err := tx.Bucket(bucketAllocs).CreateBucketIfNotExists([]byte(a.ID))
		if err != nil {
			return err
		}
		return ab.Put(keyAlloc, b)
	}); err != nil {
		return fmt.Errorf("storing alloc %s: %w", a.ID, err)
	}
	return nil
}

// PutTask stores one task's state; its allocation must have been stored.
func (d *DB) PutTask(allocID, task string, tl *TaskLocal) error {
	b, err := json.Marshal(tl)
	if err != nil {
		return fmt.Errorf("encoding task %s/%s: %w", allocID, task, err)
	}
	if err := d.db.Update(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bucketAllocs).Bucket([]byte(allocID))
		if ab == nil {
			return fmt.Errorf("alloc %s not stored", allocID)
		}
		return ab.Put([]byte(taskPrefix+task), b)
	}); err != nil {
		return fmt.Errorf("storing task %s/%s: %w", allocID, task, err)
	}
	return nil
}

// PutAllocHooks stores the alloc hooks' state (replacing what was stored);
// the allocation must have been stored.
func (d *DB) PutAllocHooks(allocID string, hs map[string]*hooks.AllocHookState) error {
	b, err := json.Marshal(hs)
	if err != nil {
		return fmt.Errorf("encoding hook state of alloc %s: %w", allocID, err)
	}
	if err := d.db.Update(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bucketAllocs).Bucket([]byte(allocID))
		if ab == nil {
			return fmt.Errorf("alloc %s not stored", allocID)
		}
		return ab.Put(keyHooks, b)
	}); err != nil {
		return fmt.Errorf("storing hook state of alloc %s: %w", allocID, err)
	}
	return nil
}

// DeleteAlloc forgets an allocation and its tasks.
func (d *DB) DeleteAlloc(id string) error {
	err := d.db.Update(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketAllocs).DeleteBucket([]byte(id))
		if errors.Is(err, berrors.ErrBucketNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting alloc %s: %w", id, err)
	}
	return nil
}

// Allocs loads every stored allocation. An entry that does not decode is
// skipped and reported in the returned error, with the good ones returned.
func (d *DB) Allocs() ([]*AllocLocal, error) {
	var out []*AllocLocal
	var bad []error
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAllocs).ForEachBucket(func(id []byte) error {
			ab := tx.Bucket(bucketAllocs).Bucket(id)
			al := &AllocLocal{Tasks: map[string]*TaskLocal{}}
			raw := ab.Get(keyAlloc)
			if raw == nil {
				bad = append(bad, fmt.Errorf("alloc %s has no record", id))
				return nil
			}
			if err := json.Unmarshal(raw, &al.Alloc); err != nil {
				bad = append(bad, fmt.Errorf("decoding alloc %s: %w", id, err))
				return nil
			}
			if raw := ab.Get(keyHooks); raw != nil {
				if err := json.Unmarshal(raw, &al.Hooks); err != nil {
					// Hooks then start afresh, as for a new allocation.
					bad = append(bad, fmt.Errorf("decoding hook state of alloc %s: %w", id, err))
				}
			}
			err := ab.ForEach(func(k, v []byte) error {
				name, ok := cutPrefix(string(k), taskPrefix)
				if !ok {
					return nil
				}
				var tl TaskLocal
				if err := json.Unmarshal(v, &tl); err != nil {
					bad = append(bad, fmt.Errorf("decoding task %s/%s: %w", id, name, err))
					return nil
				}
				al.Tasks[name] = &tl
				return nil
			})
			if err != nil {
				return err
			}
			out = append(out, al)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("loading allocs: %w", err)
	}
	return out, errors.Join(bad...)
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}
