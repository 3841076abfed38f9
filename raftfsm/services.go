package raftfsm

import (
	"errors"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// Entries of the service catalog, variables and the keyring: types 20-29.
const (
	ServiceRegistrationUpsertType MessageType = 20
	ServiceRegistrationDeleteType MessageType = 21
	VariableApplyType             MessageType = 22
	RootKeyUpsertType             MessageType = 23
	RootKeyStateType              MessageType = 24
	RootKeyDeleteType             MessageType = 25
	VariablesRekeyType            MessageType = 26
)

// ServiceRegistrationUpsert stores service instances a client reported.
type ServiceRegistrationUpsert struct {
	Services []*structs.ServiceRegistration `json:"Services"`
}

// ServiceRegistrationDelete removes service instances. With NodeID set it
// is a client deregistering its own instances (unknown or foreign IDs are
// skipped); without, an operator removing one instance by Namespace and ID
// (an unknown ID is an error).
type ServiceRegistrationDelete struct {
	NodeID    string   `json:"NodeID,omitempty"`
	Namespace string   `json:"Namespace,omitempty"`
	IDs       []string `json:"IDs"`
}

// VariableApply is one variable operation, sealed by the leader.
type VariableApply struct {
	structs.VariableApplyRequest
}

// RootKeyUpsert stores a new or changed root key.
type RootKeyUpsert struct {
	Key *structs.RootKey `json:"Key"`
}

// RootKeyState changes root keys' states.
type RootKeyState struct {
	KeyID string `json:"KeyID"`
	State string `json:"State"`
}

// RootKeyDelete removes a root key.
type RootKeyDelete struct {
	KeyID string `json:"KeyID"`
	Force bool   `json:"Force"`
}

// VariablesRekey replaces the ciphertext of variables re-sealed under the
// active key. Each carries the ModifyIndex it was read at; one changed
// meanwhile is skipped (the write that changed it sealed it anew).
type VariablesRekey struct {
	Vars []*structs.VariableEncrypted `json:"Vars"`
	Time int64                        `json:"Time"`
}

func init() {
	register(ServiceRegistrationUpsertType, "ServiceRegistrationUpsert", func(t *state.WriteTxn, b *ServiceRegistrationUpsert) error {
		return t.UpsertServiceRegistrations(b.Services)
	})
	register(ServiceRegistrationDeleteType, "ServiceRegistrationDelete", applyServiceDelete)
	register(VariableApplyType, "VariableApply", func(t *state.WriteTxn, b *VariableApply) error {
		return t.ApplyVariable(&b.VariableApplyRequest)
	})
	register(RootKeyUpsertType, "RootKeyUpsert", func(t *state.WriteTxn, b *RootKeyUpsert) error {
		return t.UpsertRootKey(b.Key)
	})
	register(RootKeyStateType, "RootKeyState", func(t *state.WriteTxn, b *RootKeyState) error {
		return t.SetRootKeyState(b.KeyID, b.State)
	})
	register(RootKeyDeleteType, "RootKeyDelete", func(t *state.WriteTxn, b *RootKeyDelete) error {
		return t.DeleteRootKey(b.KeyID, b.Force)
	})
	register(VariablesRekeyType, "VariablesRekey", applyVariablesRekey)
}

func applyServiceDelete(txn *state.WriteTxn, b *ServiceRegistrationDelete) error {
	if b.NodeID != "" {
		return txn.DeleteNodeServiceRegistrations(b.NodeID, b.IDs)
	}
	if len(b.IDs) != 1 {
		return errors.New("operator service deletion names exactly one registration")
	}
	return txn.DeleteServiceRegistration(b.Namespace, b.IDs[0])
}

func applyVariablesRekey(txn *state.WriteTxn, b *VariablesRekey) error {
	for _, v := range b.Vars {
		if v == nil {
			return errors.New("rekey: missing variable")
		}
		check := v.ModifyIndex
		err := txn.ApplyVariable(&structs.VariableApplyRequest{Op: structs.VarOpRekey, Var: v, CheckIndex: &check, Time: b.Time})
		if errors.Is(err, state.ErrCASConflict) || errors.Is(err, state.ErrNotFound) {
			continue // changed or deleted since it was read: nothing to re-seal
		}
		if err != nil {
			return err
		}
	}
	return nil
}
