package server

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// Bootstrap on a real server (Raft on disk): once; again only with the
// reset index written to the data dir, which is consumed.
func TestACLBootstrapResetFile(t *testing.T) {
	dir := t.TempDir()
	s := testServer(t, dir)
	ctx := t.Context()
	first, idx, err := s.BootstrapACL(ctx, "")
	if err != nil || first.SecretID == "" || !first.IsManagement() {
		t.Fatalf("bootstrap: %+v %v", first, err)
	}
	if _, _, err := s.BootstrapACL(ctx, ""); err == nil || !strings.Contains(err.Error(), "reset index: "+strconv.FormatUint(idx, 10)) {
		t.Fatalf("second bootstrap: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server", "acl-bootstrap-reset"), []byte(strconv.FormatUint(idx, 10)), 0o600); err != nil {
		t.Fatal(err)
	}
	second, _, err := s.BootstrapACL(ctx, "operator-chosen-secret")
	if err != nil || second.SecretID != "operator-chosen-secret" {
		t.Fatalf("reset bootstrap: %+v %v", second, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "server", "acl-bootstrap-reset")); !os.IsNotExist(err) {
		t.Fatal("reset file not consumed")
	}
	if _, _, err := s.BootstrapACL(ctx, ""); err == nil {
		t.Fatal("third bootstrap without a reset")
	}
	// Both management tokens resolve; the first one still exists.
	for _, secret := range []string{first.SecretID, second.SecretID} {
		if _, a, err := s.ACLResolver().Resolve(ctx, secret); err != nil || !a.IsManagement() {
			t.Fatalf("resolve %s: %v", secret[:4], err)
		}
	}
}

func TestExpiredTokensCollected(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := t.Context()
	if _, err := s.UpsertACLPolicies(ctx, []*structs.ACLPolicy{{Name: "p", Rules: `node { policy = "read" }`}}); err != nil {
		t.Fatal(err)
	}
	short, _, err := s.UpsertACLToken(ctx, &structs.ACLToken{Type: structs.ACLTokenTypeClient, Policies: []string{"p"}, ExpirationTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	long, _, err := s.UpsertACLToken(ctx, &structs.ACLToken{Type: structs.ACLTokenTypeClient, Policies: []string{"p"}})
	if err != nil {
		t.Fatal(err)
	}
	// As of two minutes from now, the short token has expired.
	n, err := s.collectExpiredTokens(time.Now().Add(2 * time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("collected %d, %v", n, err)
	}
	snap := s.State().Snapshot()
	if tok, _ := snap.ACLTokenByAccessor(nil, short.AccessorID); tok != nil {
		t.Fatal("expired token kept")
	}
	if tok, _ := snap.ACLTokenByAccessor(nil, long.AccessorID); tok == nil {
		t.Fatal("live token collected")
	}
}

// A variable cannot be written into a namespace that does not exist.
func TestVariableNeedsItsNamespace(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := t.Context()
	waitUntil(t, 10*time.Second, "an active root key", func() bool {
		_, err := s.keyring.Active(s.State().Snapshot())
		return err == nil
	})
	put := func(ns string) error {
		_, _, err := s.WriteVariable(ctx, &structs.VariableWriteRequest{Op: structs.VarOpSet,
			Var: &structs.VariableDecrypted{VariableMetadata: structs.VariableMetadata{Namespace: ns, Path: "app/x"},
				Items: structs.VariableItems{"k": "v"}}})
		return err
	}
	if err := put("nope"); err == nil || !strings.Contains(err.Error(), `namespace "nope" does not exist`) {
		t.Fatalf("variable in a missing namespace: %v", err)
	}
	if _, err := s.UpsertNamespaces(ctx, []*structs.Namespace{{Name: "nope"}}); err != nil {
		t.Fatal(err)
	}
	if err := put("nope"); err != nil {
		t.Fatalf("variable in an existing namespace: %v", err)
	}
	if _, err := s.DeleteNamespaces(ctx, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "variables") {
		t.Fatalf("namespace with a variable deleted: %v", err)
	}
}
