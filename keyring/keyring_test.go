package keyring

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"testing"

	"github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/structs"
)

// memReader is a keyring.Reader over a fixed set of keys.
type memReader []*structs.RootKey

func (m memReader) RootKeyByID(_ memdb.WatchSet, id string) (*structs.RootKey, error) {
	for _, k := range m {
		if k.Meta.KeyID == id {
			return k, nil
		}
	}
	return nil, nil
}

func (m memReader) RootKeys(memdb.WatchSet) ([]*structs.RootKey, error) { return m, nil }

func TestGenerateOpenRoundTrip(t *testing.T) {
	rk, key, err := Generate(structs.RootKeyMeta{State: structs.RootKeyStateActive, CreateTime: 7})
	if err != nil {
		t.Fatal(err)
	}
	if rk.Meta.KeyID == "" || rk.Meta.Algorithm != structs.EncryptionAlgorithmAES256GCM || rk.Provider != ProviderAEAD {
		t.Fatalf("meta %+v provider %q", rk.Meta, rk.Provider)
	}
	// The stored form never holds the material in the clear.
	raw, _ := json.Marshal(rk)
	if bytes.Contains(raw, key.signer.D.Bytes()) {
		t.Fatal("signing key stored unwrapped")
	}
	// It survives a trip through JSON (Raft, snapshots) and opens to the
	// same keys.
	var back structs.RootKey
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	opened, err := Open(&back)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := key.Seal("default", "a/b", structs.VariableItems{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	items, err := opened.Unseal("default", "a/b", sealed)
	if err != nil || items["k"] != "v" {
		t.Fatalf("unseal: %v %v", items, err)
	}
	digest := sha256.Sum256([]byte("claims"))
	sig, err := rsa.SignPKCS1v15(nil, opened.Signer(), crypto.SHA256, digest[:])
	if err != nil || rsa.VerifyPKCS1v15(&key.Signer().PublicKey, crypto.SHA256, digest[:], sig) != nil {
		t.Fatalf("signing keys differ: %v", err)
	}
	// A tampered wrapping does not open.
	bad := back.Copy()
	bad.WrappedMaterial = append([]byte(nil), back.WrappedMaterial...)
	bad.WrappedMaterial[len(bad.WrappedMaterial)-1] ^= 1
	if _, err := Open(bad); err == nil {
		t.Fatal("tampered root key opened")
	}
	// The wrapping is bound to the key ID.
	moved := back.Copy()
	moved.Meta.KeyID = "other"
	if _, err := Open(moved); err == nil {
		t.Fatal("root key opened under another ID")
	}
}

func TestSealedVariablesAreBoundToTheirPlace(t *testing.T) {
	_, key, err := Generate(structs.RootKeyMeta{})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := key.Seal("default", "secret/db", structs.VariableItems{"password": "hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("items in the clear")
	}
	again, _ := key.Seal("default", "secret/db", structs.VariableItems{"password": "hunter2"})
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of the same items are identical: nonce reuse")
	}
	for _, c := range [][2]string{{"default", "secret/other"}, {"prod", "secret/db"}} {
		if _, err := key.Unseal(c[0], c[1], sealed); err == nil {
			t.Fatalf("ciphertext opened at %s/%s", c[0], c[1])
		}
	}
	flipped := append([]byte(nil), sealed...)
	flipped[20] ^= 0x40
	if _, err := key.Unseal("default", "secret/db", flipped); err == nil {
		t.Fatal("tampered ciphertext opened")
	}
	if _, err := key.Unseal("default", "secret/db", sealed[:5]); err == nil {
		t.Fatal("truncated ciphertext opened")
	}
}

func TestKeyringUsesActiveKeyAndOpensOld(t *testing.T) {
	old, _, err := Generate(structs.RootKeyMeta{State: structs.RootKeyStateActive})
	if err != nil {
		t.Fatal(err)
	}
	kr := New()
	if _, err := kr.Active(memReader{}); err != ErrNoActiveKey {
		t.Fatalf("empty keyring: %v", err)
	}
	v := &structs.VariableDecrypted{Items: structs.VariableItems{"a": "1"}}
	v.Namespace, v.Path = "default", "p"
	enc, err := kr.Encrypt(memReader{old}, v)
	if err != nil || enc.KeyID != old.Meta.KeyID {
		t.Fatalf("encrypt: %v %+v", err, enc)
	}
	// Rotation: the old key goes inactive and still decrypts.
	newer, _, err := Generate(structs.RootKeyMeta{State: structs.RootKeyStateActive})
	if err != nil {
		t.Fatal(err)
	}
	inactive := old.Copy()
	inactive.Meta.State = structs.RootKeyStateInactive
	ring := memReader{inactive, newer}
	dec, err := kr.Decrypt(ring, enc)
	if err != nil || dec.Items["a"] != "1" || dec.Path != "p" {
		t.Fatalf("decrypt with old key: %v %+v", err, dec)
	}
	enc2, _ := kr.Encrypt(ring, v)
	if enc2.KeyID != newer.Meta.KeyID {
		t.Fatal("encrypt did not use the active key")
	}
	pubs, err := kr.PublicKeys(ring)
	if err != nil || len(pubs) != 2 {
		t.Fatalf("public keys: %v %d", err, len(pubs))
	}
	deprecated := inactive.Copy()
	deprecated.Meta.State = structs.RootKeyStateDeprecated
	if pubs, _ := kr.PublicKeys(memReader{deprecated, newer}); len(pubs) != 1 || pubs[0].KeyID != newer.Meta.KeyID {
		t.Fatalf("deprecated key still published: %+v", pubs)
	}
	// A key missing from state cannot decrypt.
	if _, err := kr.Decrypt(memReader{newer}, enc); err == nil {
		t.Fatal("decrypted with a key absent from state")
	}
}
