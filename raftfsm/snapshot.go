package raftfsm

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// Snapshot stream format: JSON lines, one frame per line. The first frame
// is {"Type":"header","Data":{"Version":1}}, the last
// {"Type":"end","Data":{"Count":N}} with the number of objects, so a
// snapshot cut at a line boundary is still detected as incomplete. Every
// frame in between holds one state object, Type naming its kind
// (state.Kind*). Objects come table by table in a fixed order, so equal
// states persist to identical bytes.
const (
	snapshotVersion = 1
	frameHeader     = "header"
	frameEnd        = "end"
)

type frame struct {
	Type string          `json:"Type"`
	Data json.RawMessage `json:"Data"`
}

type outFrame struct {
	Type string `json:"Type"`
	Data any    `json:"Data"`
}

type header struct {
	Version int `json:"Version"`
	// Index is the last Raft index applied to the state in the snapshot,
	// so a restored FSM knows how far it has applied. Snapshots written
	// before it existed lack it.
	Index uint64 `json:"Index,omitempty"`
}

type trailer struct {
	Count int `json:"Count"`
}

// fsmSnapshot is a point-in-time view; raft persists it concurrently with
// further Apply calls, which the memdb snapshot isolates it from.
type fsmSnapshot struct {
	snap  *state.Snapshot
	index uint64
}

// Snapshot captures the current state for raft to persist. Raft calls it
// on its FSM goroutine, between applies, so the applied index is exactly
// the state's.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.store.Snapshot(), index: f.AppliedIndex()}, nil
}

// Persist writes every object to sink and closes it, or cancels the sink on
// error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeState(s.snap, s.index, sink); err != nil {
		if cerr := sink.Cancel(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cancel snapshot sink: %w", cerr))
		}
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("close snapshot sink: %w", err)
	}
	return nil
}

// Release is a no-op: a memdb snapshot holds no resources.
func (s *fsmSnapshot) Release() {}

func writeState(snap *state.Snapshot, index uint64, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(outFrame{Type: frameHeader, Data: header{Version: snapshotVersion, Index: index}}); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	count := 0
	err := snap.Walk(func(kind string, obj any) error {
		if err := enc.Encode(outFrame{Type: kind, Data: obj}); err != nil {
			return fmt.Errorf("write %s: %w", kind, err)
		}
		count++
		return nil
	})
	if err != nil {
		return err
	}
	if err := enc.Encode(outFrame{Type: frameEnd, Data: trailer{Count: count}}); err != nil {
		return fmt.Errorf("write trailer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("flush snapshot: %w", err)
	}
	return nil
}

// Restore replaces the whole state with the snapshot read from rc. The
// store is only swapped once the snapshot was read completely; a bad
// snapshot leaves the current state untouched.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r, err := f.store.Restore()
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	defer r.Abort()
	h, err := readState(bufio.NewReaderSize(rc, 64<<10), r)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if err := r.Commit(); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	index := h.Index
	if index == 0 {
		index, _ = f.store.LatestIndex()
	}
	f.applied.set(index)
	f.logger.Info("state restored from snapshot")
	return nil
}

func readState(rd io.Reader, r *state.Restore) (header, error) {
	var h header
	dec := json.NewDecoder(rd)
	var fr frame
	if err := dec.Decode(&fr); err != nil {
		return h, fmt.Errorf("read header: %w", err)
	}
	if fr.Type != frameHeader {
		return h, fmt.Errorf("first frame is %q, want %q", fr.Type, frameHeader)
	}
	if err := json.Unmarshal(fr.Data, &h); err != nil {
		return h, fmt.Errorf("decode header: %w", err)
	}
	if h.Version != snapshotVersion {
		return h, fmt.Errorf("unsupported snapshot version %d", h.Version)
	}
	return h, readFrames(dec, r)
}

func readFrames(dec *json.Decoder, r *state.Restore) error {
	var fr frame
	for n := 1; ; n++ {
		fr = frame{}
		if err := dec.Decode(&fr); err == io.EOF {
			return errors.New("snapshot ends without trailer: truncated")
		} else if err != nil {
			return fmt.Errorf("read frame %d: %w", n, err)
		}
		if fr.Type == frameEnd {
			var tr trailer
			if err := json.Unmarshal(fr.Data, &tr); err != nil {
				return fmt.Errorf("decode trailer: %w", err)
			}
			if tr.Count != n-1 {
				return fmt.Errorf("snapshot has %d objects, trailer says %d", n-1, tr.Count)
			}
			if err := dec.Decode(&fr); err != io.EOF {
				return errors.New("data after snapshot trailer")
			}
			return nil
		}
		if err := restoreFrame(r, fr); err != nil {
			return fmt.Errorf("frame %d: %w", n, err)
		}
	}
}

func restoreFrame(r *state.Restore, fr frame) error {
	switch fr.Type {
	case state.KindIndex:
		return decodeInto(fr, &state.IndexEntry{}, r.IndexRestore)
	case state.KindJob:
		return decodeInto(fr, &structs.Job{}, r.JobRestore)
	case state.KindJobVersion:
		return decodeInto(fr, &structs.Job{}, r.JobVersionRestore)
	case state.KindJobSummary:
		return decodeInto(fr, &structs.JobSummary{}, r.JobSummaryRestore)
	case state.KindNode:
		return decodeInto(fr, &structs.Node{}, r.NodeRestore)
	case state.KindEval:
		return decodeInto(fr, &structs.Evaluation{}, r.EvalRestore)
	case state.KindAlloc:
		return decodeInto(fr, &structs.Allocation{}, r.AllocRestore)
	case state.KindNamespace:
		return decodeInto(fr, &structs.Namespace{}, r.NamespaceRestore)
	case state.KindACLPolicy:
		return decodeInto(fr, &structs.ACLPolicy{}, r.ACLPolicyRestore)
	case state.KindACLToken:
		return decodeInto(fr, &structs.ACLToken{}, r.ACLTokenRestore)
	case state.KindACLRole:
		return decodeInto(fr, &structs.ACLRole{}, r.ACLRoleRestore)
	case state.KindServiceRegistration:
		return decodeInto(fr, &structs.ServiceRegistration{}, r.ServiceRegistrationRestore)
	case state.KindVariable:
		return decodeInto(fr, &structs.VariableEncrypted{}, r.VariableRestore)
	case state.KindRootKey:
		return decodeInto(fr, &structs.RootKey{}, r.RootKeyRestore)
	case state.KindScalingPolicy:
		return decodeInto(fr, &structs.ScalingPolicy{}, r.ScalingPolicyRestore)
	case state.KindScalingEvents:
		return decodeInto(fr, &structs.JobScalingEvents{}, r.ScalingEventsRestore)
	case state.KindDeployment:
		return decodeInto(fr, &structs.Deployment{}, r.DeploymentRestore)
	case state.KindJobSubmission:
		return decodeInto(fr, &state.JobSubmissionRow{}, r.JobSubmissionRestore)
	case state.KindPeriodicLaunch:
		return decodeInto(fr, &structs.PeriodicLaunch{}, r.PeriodicLaunchRestore)
	case state.KindAutopilotConfig:
		return decodeInto(fr, &structs.AutopilotConfig{}, r.AutopilotConfigRestore)
	}
	return fmt.Errorf("unknown object type %q", fr.Type)
}

func decodeInto[T any](fr frame, v *T, load func(*T) error) error {
	if err := json.Unmarshal(fr.Data, v); err != nil {
		return fmt.Errorf("decode %s: %w", fr.Type, err)
	}
	return load(v)
}

// StateHash digests every persistent object of snap in the snapshot
// encoding (tables in a fixed order, JSON with sorted map keys), so two
// replicas that applied the same entries have the same hash. Index is the
// highest index that wrote the state: replicas are compared at equal
// indexes.
func StateHash(snap *state.Snapshot) (structs.StateHash, error) {
	index, err := snap.LatestIndex()
	if err != nil {
		return structs.StateHash{}, err
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(h, 64<<10)
	enc := json.NewEncoder(bw)
	err = snap.Walk(func(kind string, obj any) error {
		return enc.Encode(outFrame{Type: kind, Data: obj})
	})
	if err != nil {
		return structs.StateHash{}, fmt.Errorf("hashing state: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return structs.StateHash{}, err
	}
	return structs.StateHash{Index: index, Hash: "sha256:" + hex.EncodeToString(h.Sum(nil))}, nil
}
