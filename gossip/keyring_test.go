package gossip

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// keyTestIP spreads this test's pools over addresses derived from the pid,
// so concurrent runs on the machine do not share them.
func keyTestIP(n int) string {
	return fmt.Sprintf("127.%d.%d.%d", 40+os.Getpid()%50, os.Getpid()%250+1, n)
}

func newKeyPool(t *testing.T, name, ip, key, file string) (*Pool, error) {
	t.Helper()
	p, err := New(Config{Name: name, BindAddr: ip, Port: 4648, Fast: true, EncryptKey: key, KeyringFile: file,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		t.Cleanup(func() { _ = p.Shutdown() })
	}
	return p, err
}

func mustKeyPool(t *testing.T, name, ip, key, file string) *Pool {
	t.Helper()
	p, err := newKeyPool(t, name, ip, key, file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func has(p *Pool, name string) bool {
	for _, m := range p.Members() {
		if m.Name == name && m.Status == StatusAlive {
			return true
		}
	}
	return false
}

// Without the key a peer can neither join the pool nor be seen in it, and
// a rotated-out key stops working; the keyring survives a restart.
func TestGossipEncryptionAndRotation(t *testing.T) {
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	dir := t.TempDir()
	a := mustKeyPool(t, "a", keyTestIP(1), k1, filepath.Join(dir, "a.keyring"))
	b := mustKeyPool(t, "b", keyTestIP(2), k1, filepath.Join(dir, "b.keyring"))
	if _, err := b.Join([]string{keyTestIP(1)}); err != nil {
		t.Fatalf("join with the key: %v", err)
	}
	plain := mustKeyPool(t, "plain", keyTestIP(3), "", "")
	if _, err := plain.Join([]string{keyTestIP(1)}); err == nil {
		t.Fatal("a peer without a key joined an encrypted pool")
	}
	wrong := mustKeyPool(t, "wrong", keyTestIP(4), k2, "")
	if _, err := wrong.Join([]string{keyTestIP(1)}); err == nil {
		t.Fatal("a peer with another key joined")
	}
	time.Sleep(500 * time.Millisecond)
	if has(a, "plain") || has(a, "wrong") || !has(a, "b") {
		t.Fatalf("members of a: %+v", a.Members())
	}

	// Rotate: install k2 everywhere, use it, remove k1.
	for _, p := range []*Pool{a, b} {
		for _, op := range []KeyOp{KeyInstall, KeyUse} {
			if err := p.ChangeKey(op, k2); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range []*Pool{a, b} {
		if err := p.ChangeKey(KeyRemove, k1); err != nil {
			t.Fatal(err)
		}
	}
	if keys, _ := a.Keys(); len(keys) != 1 || keys[0] != k2 || a.PrimaryKey() != k2 {
		t.Fatalf("keys after rotation: %v", keys)
	}
	old := mustKeyPool(t, "old", keyTestIP(5), k1, "")
	if _, err := old.Join([]string{keyTestIP(1)}); err == nil {
		t.Fatal("the rotated-out key still joins")
	}
	if err := a.ChangeKey(KeyRemove, k2); err == nil {
		t.Fatal("removed the primary key")
	}
	// The keyring file wins over the configured key on restart.
	_ = b.Shutdown()
	b2 := mustKeyPool(t, "b", keyTestIP(2), k1, filepath.Join(dir, "b.keyring"))
	if b2.PrimaryKey() != k2 {
		t.Fatal("restart lost the rotated keyring")
	}
	if fi, err := os.Stat(filepath.Join(dir, "b.keyring")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode: %v", err)
	}
	if _, err := b2.Join([]string{keyTestIP(1)}); err != nil {
		t.Fatalf("restarted member rejoins with the new key: %v", err)
	}
	if _, err := newKeyPool(t, "bad", keyTestIP(6), "c2hvcnQ=", ""); err == nil {
		t.Fatal("a 5-byte key accepted")
	}
	if err := plain.ChangeKey(KeyInstall, k1); err != ErrNotEncrypted {
		t.Fatalf("install on a plaintext pool: %v", err)
	}
}
