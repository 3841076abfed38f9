package raftfsm

import (
	"fmt"

	"github.com/orch-project/orch/state"
)

// Message types that live in their own files register here instead of
// adding a case to every switch: one call gives the type its name, its
// body type and its apply function. The core types keep their switches.
type entryKind struct {
	name    string
	newBody func() any
	matches func(body any) bool
	apply   func(txn *state.WriteTxn, body any) error
}

var registered = map[MessageType]entryKind{}

// register adds message type t with body type T; it panics on a duplicate
// type, which is a programming error found by any test.
func register[T any](t MessageType, name string, apply func(*state.WriteTxn, *T) error) {
	if _, dup := registered[t]; dup {
		panic(fmt.Sprintf("raftfsm: message type %d registered twice", t))
	}
	registered[t] = entryKind{
		name:    name,
		newBody: func() any { return new(T) },
		matches: func(body any) bool {
			switch body.(type) {
			case T, *T:
				return true
			}
			return false
		},
		apply: func(txn *state.WriteTxn, body any) error {
			b, ok := body.(*T)
			if !ok {
				return fmt.Errorf("%s: body of type %T", name, body)
			}
			return apply(txn, b)
		},
	}
}

// registeredKind returns the registered kind of body, if any.
func registeredKind(body any) (entryKind, bool) {
	for _, k := range registered {
		if k.matches(body) {
			return k, true
		}
	}
	return entryKind{}, false
}
