package gossip

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/memberlist"
)

// Gossip encryption: memberlist's AES-GCM keyring. The first key encrypts
// what this agent sends; every key decrypts. The keyring is persisted as a
// JSON list of base64 keys (primary first), as serf's keyring file, so
// installed and rotated keys survive restarts.

// GenerateKey returns a new 32-byte gossip key, base64-encoded.
func GenerateKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// DecodeKey checks and decodes a base64 key of 16, 24 or 32 bytes.
func DecodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("gossip key is not base64: %w", err)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("gossip key must be 16, 24 or 32 bytes, not %d", len(k))
}

// loadKeyring builds the keyring from the keyring file, falling back to
// the configured key (which then seeds the file). It returns nil when
// gossip is not encrypted.
func loadKeyring(file, key string) (*memberlist.Keyring, error) {
	var keys []string
	if file != "" {
		b, err := os.ReadFile(file)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &keys); err != nil {
				return nil, fmt.Errorf("reading gossip keyring %s: %w", file, err)
			}
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("reading gossip keyring: %w", err)
		}
	}
	if len(keys) == 0 && key != "" {
		keys = []string{key}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	raw := make([][]byte, 0, len(keys))
	for _, k := range keys {
		b, err := DecodeKey(k)
		if err != nil {
			return nil, err
		}
		raw = append(raw, b)
	}
	kr, err := memberlist.NewKeyring(raw, raw[0])
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	if file != "" {
		if err := saveKeyring(file, kr); err != nil {
			return nil, err
		}
	}
	return kr, nil
}

func encodeKeys(kr *memberlist.Keyring) []string {
	var out []string
	for _, k := range kr.GetKeys() {
		out = append(out, base64.StdEncoding.EncodeToString(k))
	}
	return out
}

// saveKeyring writes the keyring file atomically, readable by root only.
func saveKeyring(file string, kr *memberlist.Keyring) error {
	b, err := json.Marshal(encodeKeys(kr))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("saving gossip keyring: %w", err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving gossip keyring: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("saving gossip keyring: %w", err)
	}
	return nil
}

// ErrNotEncrypted is returned by keyring operations on a pool without
// encryption: keys cannot be added to a plaintext pool at runtime.
var ErrNotEncrypted = errors.New("gossip encryption is not enabled on this agent")

// Encrypted reports whether the pool's gossip is encrypted.
func (p *Pool) Encrypted() bool { return p.keyring != nil }

// Keys lists the installed keys, primary first.
func (p *Pool) Keys() ([]string, error) {
	if p.keyring == nil {
		return nil, ErrNotEncrypted
	}
	return encodeKeys(p.keyring), nil
}

// PrimaryKey returns the key this agent encrypts with.
func (p *Pool) PrimaryKey() string {
	if p.keyring == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(p.keyring.GetPrimaryKey())
}

// KeyOp is a keyring operation.
type KeyOp string

// Keyring operations, as `operator gossip keyring` names them.
const (
	KeyInstall KeyOp = "install"
	KeyUse     KeyOp = "use"
	KeyRemove  KeyOp = "remove"
)

// ChangeKey installs, uses (makes primary) or removes a key and persists
// the keyring.
func (p *Pool) ChangeKey(op KeyOp, key string) error {
	if p.keyring == nil {
		return ErrNotEncrypted
	}
	raw, err := DecodeKey(key)
	if err != nil {
		return err
	}
	p.keyMu.Lock()
	defer p.keyMu.Unlock()
	switch op {
	case KeyInstall:
		err = p.keyring.AddKey(raw)
	case KeyUse:
		err = p.keyring.UseKey(raw)
	case KeyRemove:
		err = p.keyring.RemoveKey(raw)
	default:
		err = fmt.Errorf("unknown keyring operation %q", op)
	}
	if err != nil {
		return err
	}
	if p.keyringFile != "" {
		return saveKeyring(p.keyringFile, p.keyring)
	}
	return nil
}
