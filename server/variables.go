package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/orch-project/orch/keyring"
	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// VariableConflictError answers a variable write that lost a check-and-set
// or met a lock: the HTTP layer replies 409 with Current (nil when the
// variable does not exist) as Nomad does.
type VariableConflictError struct {
	Current *structs.VariableDecrypted
	Err     error
}

func (e *VariableConflictError) Error() string   { return e.Err.Error() }
func (e *VariableConflictError) Unwrap() error   { return e.Err }
func (e *VariableConflictError) StatusCode() int { return http.StatusConflict }

// JSONBody is the 409 reply's body: the variable as it stands, or an empty
// one (never null: Nomad's client reads the conflict's ModifyIndex).
func (e *VariableConflictError) JSONBody() any {
	if e.Current == nil {
		return &structs.VariableDecrypted{}
	}
	return e.Current
}

// WriteVariable performs a variable write on the leader: it seals the
// items with the active root key, commits the operation (whose conflicts
// the FSM decides atomically) and returns the variable as stored, in the
// clear (nil after a delete), with the entry's index.
func (s *Server) WriteVariable(ctx context.Context, req *structs.VariableWriteRequest) (*structs.VariableDecrypted, uint64, error) {
	if !s.IsLeader() {
		return nil, 0, ErrNotLeader
	}
	v := req.Var
	if v == nil {
		return nil, 0, fmt.Errorf("%w: missing variable", ErrBadInput)
	}
	v.Namespace = nsOrDefault(v.Namespace)
	if req.Op != structs.VarOpDelete {
		if ns, err := s.State().Snapshot().NamespaceByName(nil, v.Namespace); err != nil {
			return nil, 0, err
		} else if ns == nil {
			return nil, 0, badInput(fmt.Errorf("namespace %q does not exist", v.Namespace))
		}
	}
	lockOp := req.Op == structs.VarOpLockAcquire || req.Op == structs.VarOpLockRelease
	if req.Op != structs.VarOpDelete {
		if err := v.Validate(lockOp); err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
	} else if err := structs.ValidateVariablePath(v.Path); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	entry, err := s.variableEntry(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.VariableApplyType, &raftfsm.VariableApply{VariableApplyRequest: *entry})
	if errors.Is(err, state.ErrCASConflict) || errors.Is(err, state.ErrLockConflict) {
		cur, rerr := s.readVariable(v.Namespace, v.Path)
		if rerr != nil {
			return nil, 0, rerr
		}
		return nil, 0, &VariableConflictError{Current: cur, Err: err}
	}
	if err != nil {
		if index != 0 {
			return nil, 0, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		return nil, 0, err
	}
	switch req.Op {
	case structs.VarOpLockAcquire:
		s.locks.start(entry.Var.Namespace, entry.Var.Path, entry.Var.Lock)
	case structs.VarOpLockRelease:
		s.locks.stop(v.Namespace, v.Path)
	case structs.VarOpDelete:
		return nil, index, nil
	}
	out, err := s.readVariable(v.Namespace, v.Path)
	return out, index, err
}

// variableEntry builds the replicated form of a write: items sealed, a
// new lock's ID generated, the leader's time stamped.
func (s *Server) variableEntry(ctx context.Context, req *structs.VariableWriteRequest) (*structs.VariableApplyRequest, error) {
	v := req.Var
	entry := &structs.VariableApplyRequest{Op: req.Op, CheckIndex: req.CheckIndex, Time: s.now()}
	enc := &structs.VariableEncrypted{}
	enc.Namespace, enc.Path = v.Namespace, v.Path
	if v.Lock != nil {
		l := *v.Lock
		enc.Lock = &l
	}
	switch req.Op {
	case structs.VarOpSet:
		if v.Lock != nil && v.Lock.ID == "" {
			return nil, fmt.Errorf("%w: a variable write names a lock by its ID; acquire one with ?lock-acquire", ErrBadInput)
		}
	case structs.VarOpDelete, structs.VarOpLockRelease:
		entry.Var = enc
		return entry, nil
	case structs.VarOpLockAcquire:
		ttl, delay, err := v.Lock.Durations()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		enc.Lock = &structs.VariableLock{ID: structs.GenerateUUID(), TTL: ttl.String(), LockDelay: delay.String()}
		if len(v.Items) == 0 {
			// A bare acquire keeps the items of an existing variable; a
			// new one starts empty.
			if cur, err := s.State().Snapshot().VariableByPath(nil, v.Namespace, v.Path); err != nil {
				return nil, err
			} else if cur != nil {
				entry.Var = enc
				return entry, nil
			}
			v = v.Copy()
			v.Items = structs.VariableItems{}
		}
	default:
		return nil, fmt.Errorf("%w: unknown variable operation %q", ErrBadInput, req.Op)
	}
	sealed, err := s.keyring.Encrypt(s.State().Snapshot(), v)
	if errors.Is(err, keyring.ErrNoActiveKey) {
		// A new leader makes its first key moments after taking office.
		s.wakeKeyring()
		err = s.waitActiveKey(ctx)
		if err == nil {
			sealed, err = s.keyring.Encrypt(s.State().Snapshot(), v)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("encrypting variable: %w", err)
	}
	enc.VariableData = sealed.VariableData
	entry.Var = enc
	return entry, nil
}

// errNoKey answers a write that found no root key to seal it with.
var errNoKey error = &statusError{http.StatusServiceUnavailable, "the keyring has no active root key yet; retry"}

// waitActiveKey waits (bounded) for the keyring loop's first root key.
func (s *Server) waitActiveKey(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		if _, err := s.keyring.Active(s.State().Snapshot()); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errNoKey
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readVariable returns a variable in the clear from this server's replica,
// nil when it does not exist.
func (s *Server) readVariable(ns, path string) (*structs.VariableDecrypted, error) {
	snap := s.State().Snapshot()
	v, err := snap.VariableByPath(nil, ns, path)
	if err != nil || v == nil {
		return nil, err
	}
	return s.keyring.Decrypt(snap, v)
}

// RenewVariableLock extends a lock's TTL. Renewals live in the leader's
// memory (its TTL timers), not in Raft: they change nothing replicated.
func (s *Server) RenewVariableLock(ctx context.Context, ns, path, lockID string) (*structs.VariableMetadata, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	ns = nsOrDefault(ns)
	v, err := s.State().Snapshot().VariableByPath(nil, ns, path)
	if err != nil {
		return nil, err
	}
	if v == nil || v.Lock == nil || lockID == "" || v.Lock.ID != lockID {
		var cur *structs.VariableDecrypted
		if v != nil {
			cur = &structs.VariableDecrypted{VariableMetadata: v.Metadata()}
		}
		return nil, &VariableConflictError{Current: cur, Err: fmt.Errorf("%w: variable %q is not locked with that lock ID", state.ErrLockConflict, path)}
	}
	s.locks.start(ns, path, v.Lock)
	m := v.Metadata()
	return &m, nil
}

func nsOrDefault(ns string) string {
	if ns == "" {
		return structs.DefaultNamespace
	}
	return ns
}

// lockTimers holds the leader's TTL timer of every held variable lock. On
// expiry the leader commits the lock's end, which starts its lock delay.
type lockTimers struct {
	srv *Server
	mu  sync.Mutex
	// on is false while this server does not lead: no timer runs then.
	on     bool
	timers map[string]*time.Timer
}

func lockKey(ns, path string) string { return ns + "\x00" + path }

// start (re)arms the timer of a held lock for its full TTL.
func (l *lockTimers) start(ns, path string, lock *structs.VariableLock) {
	ttl, _, err := lock.Durations()
	if err != nil {
		ttl = structs.DefaultLockTTL
	}
	id := lock.ID
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.on {
		return
	}
	k := lockKey(ns, path)
	if t := l.timers[k]; t != nil {
		t.Stop()
	}
	l.timers[k] = time.AfterFunc(ttl, func() { l.expire(ns, path, id) })
}

func (l *lockTimers) stop(ns, path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := lockKey(ns, path)
	if t := l.timers[k]; t != nil {
		t.Stop()
		delete(l.timers, k)
	}
}

func (l *lockTimers) expire(ns, path, id string) {
	l.mu.Lock()
	if !l.on {
		l.mu.Unlock()
		return
	}
	delete(l.timers, lockKey(ns, path))
	l.mu.Unlock()
	enc := &structs.VariableEncrypted{}
	enc.Namespace, enc.Path, enc.Lock = ns, path, &structs.VariableLock{ID: id}
	_, err := l.srv.raftApply(raftfsm.VariableApplyType, &raftfsm.VariableApply{VariableApplyRequest: structs.VariableApplyRequest{
		Op: structs.VarOpLockExpire, Var: enc, Time: l.srv.now(),
	}})
	switch {
	case errors.Is(err, state.ErrLockConflict):
		// Released or re-acquired meanwhile.
	case err != nil:
		l.srv.logger.Warn("expiring variable lock", "namespace", ns, "path", path, "error", err)
	default:
		l.srv.logger.Info("variable lock expired", "namespace", ns, "path", path)
	}
}

// enable arms a timer for every lock held in state, each with its full
// TTL: a new leader cannot know when a holder last renewed, so it gives
// every holder a whole TTL to renew with it.
func (l *lockTimers) enable() {
	l.mu.Lock()
	l.on = true
	l.timers = map[string]*time.Timer{}
	l.mu.Unlock()
	var held []*structs.VariableEncrypted
	err := l.srv.State().Snapshot().Variables(nil, "*", "", "", "", func(v *structs.VariableEncrypted) bool {
		if v.Lock != nil {
			held = append(held, v)
		}
		return true
	})
	if err != nil {
		l.srv.logger.Error("listing variable locks", "error", err)
	}
	for _, v := range held {
		l.start(v.Namespace, v.Path, v.Lock)
	}
}

func (l *lockTimers) disable() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	for _, t := range l.timers {
		t.Stop()
	}
	l.timers = nil
}
