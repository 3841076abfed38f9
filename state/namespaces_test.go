package state

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

// A namespace holding variables or services cannot be deleted.
func TestNamespaceInUseCoversVariablesAndServices(t *testing.T) {
	s, err := NewStore()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.write(1, func(tx *WriteTxn) error {
		return tx.UpsertNamespaces([]*structs.Namespace{{Name: "a"}, {Name: "b"}})
	}); err != nil {
		t.Fatal(err)
	}
	v := sealedVar("x", "data", nil)
	v.Namespace = "a"
	must(t, applyVar(s, 2, structs.VarOpSet, v, nil, 1))
	if what, err := s.Snapshot().NamespaceInUse("a"); err != nil || what != "variables" {
		t.Fatalf("namespace with a variable: %q %v", what, err)
	}
	if what, _ := s.Snapshot().NamespaceInUse("b"); what != "" {
		t.Fatalf("empty namespace in use by %q", what)
	}
	if err := s.write(3, func(tx *WriteTxn) error { return tx.DeleteNamespaces([]string{"a"}) }); err == nil {
		t.Fatal("namespace with a variable deleted")
	}
}
