package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orch-project/orch/keyring"
	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// Keyring duties of the leader: the first root key, scheduled rotation,
// activation of prepublished keys, and re-encryption after a full
// rotation. They follow the leader-loop pattern: read state, decide, commit
// through Raft; rebuilt from state on every leadership gain.

const (
	// rootKeyRotationThreshold is how old the active key gets before the
	// leader rotates it (Nomad's root_key_rotation_threshold).
	rootKeyRotationThreshold = 30 * 24 * time.Hour
	// keyringCheckInterval is how often the leader looks for keyring work
	// when nothing wakes it.
	keyringCheckInterval = time.Minute
	// rekeyBatch bounds one re-encryption entry.
	rekeyBatch = 256
)

// Keyring returns the server's root key cache; it opens keys from this
// server's replica, so followers decrypt too.
func (s *Server) Keyring() *keyring.Keyring { return s.keyring }

// keyringLoop runs while this server leads.
func (s *Server) keyringLoop(ctx context.Context) {
	if h := s.cfg.keyringHold; h != nil {
		select {
		case <-h:
		case <-ctx.Done():
			return
		}
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.keyringWake:
		}
		next, err := s.keyringStep(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger.Error("keyring maintenance", "error", err)
			next = 5 * time.Second
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// wakeKeyring asks the keyring loop to look for work now.
func (s *Server) wakeKeyring() {
	select {
	case s.keyringWake <- struct{}{}:
	default:
	}
}

// keyringStep does one round of keyring work and says when to look again.
func (s *Server) keyringStep(ctx context.Context) (time.Duration, error) {
	keys, err := s.State().Snapshot().RootKeys(nil)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	next := keyringCheckInterval
	var active, due *structs.RootKeyMeta
	var rekeying []string
	for _, rk := range keys {
		m := rk.Meta
		switch m.State {
		case structs.RootKeyStateActive:
			active = m
		case structs.RootKeyStatePrepublished:
			if wait := time.Unix(0, m.PublishTime).Sub(now); wait > 0 {
				next = min(next, wait)
			} else if due == nil || m.PublishTime < due.PublishTime {
				due = m
			}
		case structs.RootKeyStateRekeying:
			rekeying = append(rekeying, m.KeyID)
		}
	}
	switch {
	case due != nil:
		// Prepublished keys become active in publish order, one per round.
		if err := s.setRootKeyState(due.KeyID, structs.RootKeyStateActive); err != nil {
			return 0, err
		}
		s.logger.Info("prepublished root key activated", "key_id", due.KeyID)
		return 0, nil
	case active == nil && next == keyringCheckInterval:
		// No key at all (a new cluster) and none waiting to publish.
		_, err := s.rotateRootKey(ctx, false, 0)
		return 0, err
	case active != nil && now.Sub(time.Unix(0, active.CreateTime)) >= rootKeyRotationThreshold:
		s.logger.Info("rotating root key past its rotation threshold", "key_id", active.KeyID)
		_, err := s.rotateRootKey(ctx, false, 0)
		return 0, err
	}
	for _, id := range rekeying {
		if active == nil {
			break
		}
		done, err := s.rekeyStep(ctx, id)
		if err != nil {
			return 0, err
		}
		if !done {
			return 0, nil // more to re-encrypt: come back at once
		}
	}
	return next, nil
}

// rekeyStep re-seals one batch of the variables still sealed with keyID
// under the active key; done when none are left, and the key is then
// deprecated.
func (s *Server) rekeyStep(ctx context.Context, keyID string) (bool, error) {
	snap := s.State().Snapshot()
	vars, err := snap.VariablesByKeyID(nil, keyID)
	if err != nil {
		return false, err
	}
	if len(vars) == 0 {
		if err := s.setRootKeyState(keyID, structs.RootKeyStateDeprecated); err != nil {
			return false, err
		}
		s.logger.Info("root key deprecated: no variable uses it any more", "key_id", keyID)
		return true, nil
	}
	active, err := s.keyring.Active(snap)
	if err != nil {
		return false, err
	}
	if len(vars) > rekeyBatch {
		vars = vars[:rekeyBatch]
	}
	out := make([]*structs.VariableEncrypted, 0, len(vars))
	for _, v := range vars {
		dec, err := s.keyring.Decrypt(snap, v)
		if err != nil {
			return false, err
		}
		data, err := active.Seal(v.Namespace, v.Path, dec.Items)
		if err != nil {
			return false, err
		}
		c := v.Copy()
		c.VariableData = structs.VariableData{Data: data, KeyID: active.ID()}
		out = append(out, c)
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	_, err = s.raftApplyCtx(ctx, raftfsm.VariablesRekeyType, &raftfsm.VariablesRekey{Vars: out, Time: s.now()})
	return false, err
}

func (s *Server) setRootKeyState(id, st string) error {
	_, err := s.raftApply(raftfsm.RootKeyStateType, &raftfsm.RootKeyState{KeyID: id, State: st})
	return err
}

// rotateRootKey creates a new root key: active at once, or prepublished
// until publishTime (Unix nanoseconds) when that lies ahead. With full,
// every other usable key starts rekeying: its variables are re-sealed
// under the new key in the background, then it is deprecated.
func (s *Server) rotateRootKey(ctx context.Context, full bool, publishTime int64) (*structs.RootKeyMeta, error) {
	now := s.now()
	meta := structs.RootKeyMeta{Algorithm: structs.EncryptionAlgorithmAES256GCM, CreateTime: now, State: structs.RootKeyStateActive}
	if publishTime > now {
		meta.State, meta.PublishTime = structs.RootKeyStatePrepublished, publishTime
	}
	rk, _, err := keyring.Generate(meta)
	if err != nil {
		return nil, err
	}
	prior, err := s.State().Snapshot().RootKeys(nil)
	if err != nil {
		return nil, err
	}
	if _, err := s.raftApplyCtx(ctx, raftfsm.RootKeyUpsertType, &raftfsm.RootKeyUpsert{Key: rk}); err != nil {
		return nil, err
	}
	s.logger.Info("root key created", "key_id", rk.Meta.KeyID, "state", rk.Meta.State)
	if full {
		for _, p := range prior {
			if p.Meta.State == structs.RootKeyStateDeprecated || p.Meta.State == structs.RootKeyStatePrepublished {
				continue
			}
			if err := s.setRootKeyState(p.Meta.KeyID, structs.RootKeyStateRekeying); err != nil {
				return nil, err
			}
		}
		s.wakeKeyring()
	}
	stored, err := s.State().Snapshot().RootKeyByID(nil, rk.Meta.KeyID)
	if err != nil || stored == nil {
		return nil, fmt.Errorf("reading back root key %s: %v", rk.Meta.KeyID, err)
	}
	m := *stored.Meta
	return &m, nil
}

// RotateRootKey is PUT /v1/operator/keyring/rotate.
func (s *Server) RotateRootKey(ctx context.Context, algorithm string, full bool, publishTime int64) (*structs.KeyringRotateResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	if algorithm != "" && algorithm != structs.EncryptionAlgorithmAES256GCM {
		return nil, fmt.Errorf("%w: unsupported encryption algorithm %q", ErrBadInput, algorithm)
	}
	if full && publishTime > 0 {
		return nil, fmt.Errorf("%w: a full rotation cannot be prepublished", ErrBadInput)
	}
	meta, err := s.rotateRootKey(ctx, full, publishTime)
	if err != nil {
		return nil, err
	}
	if meta.State == structs.RootKeyStatePrepublished {
		s.wakeKeyring()
	}
	return &structs.KeyringRotateResponse{Key: meta, Index: meta.ModifyIndex}, nil
}

// DeleteRootKey is DELETE /v1/operator/keyring/key/<id>.
func (s *Server) DeleteRootKey(ctx context.Context, id string, force bool) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.RootKeyDeleteType, &raftfsm.RootKeyDelete{KeyID: id, Force: force})
	switch {
	case errors.Is(err, state.ErrNotFound):
		return 0, fmt.Errorf("%w: root key %s", ErrNotFound, id)
	case errors.Is(err, state.ErrKeyInUse):
		return 0, fmt.Errorf("%w: %v", ErrBadInput, err)
	case err != nil && index != 0:
		// Refused by the FSM's checks (e.g. the active key).
		return 0, fmt.Errorf("%w: %v", ErrBadInput, err)
	case err != nil:
		return 0, err
	}
	s.keyring.Forget(id)
	return index, nil
}
