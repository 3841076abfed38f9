package structs

// The cluster keyring: root keys that encrypt variables and sign workload
// identities. Raft stores each root key wrapped (RootKey); the key material
// itself never leaves the servers and no API returns it.

// Root key algorithms and states, as Nomad names them.
const (
	EncryptionAlgorithmAES256GCM = "aes256-gcm"

	RootKeyStateInactive     = "inactive"
	RootKeyStateActive       = "active"
	RootKeyStateRekeying     = "rekeying"
	RootKeyStateDeprecated   = "deprecated"
	RootKeyStatePrepublished = "prepublished"
)

// RootKeyMeta describes a root key; it is what GET
// /v1/operator/keyring/keys lists.
type RootKeyMeta struct {
	KeyID       string `json:"KeyID"`
	Algorithm   string `json:"Algorithm"`
	CreateTime  int64  `json:"CreateTime"`
	CreateIndex uint64 `json:"CreateIndex"`
	ModifyIndex uint64 `json:"ModifyIndex"`
	State       string `json:"State"`
	// PublishTime (Unix nanoseconds) is when a prepublished key becomes
	// active; 0 for keys that were never prepublished.
	PublishTime int64 `json:"PublishTime"`
}

// Active reports whether the key encrypts new variables and signs new
// identities.
func (m *RootKeyMeta) Active() bool { return m.State == RootKeyStateActive }

// RootKey is a root key as replicated state holds it: its metadata and its
// material sealed under a key-encryption key (KEK). With the default
// "aead" provider the KEK travels with the wrapped key, as in Nomad: the
// material is then protected from anything that sees a state row (API
// dumps, logs, state hashes) but not from a copy of a server's data dir,
// which an external KMS provider would close.
type RootKey struct {
	Meta *RootKeyMeta `json:"Meta"`
	// Provider names the KEK provider ("aead").
	Provider string `json:"Provider"`
	// KEK is the key-encryption key for the "aead" provider.
	KEK []byte `json:"KEK"`
	// WrappedMaterial is the sealed RootKeyMaterial.
	WrappedMaterial []byte `json:"WrappedMaterial"`
}

// Copy returns a copy with its own metadata (the byte slices are immutable).
func (k *RootKey) Copy() *RootKey {
	if k == nil {
		return nil
	}
	c := *k
	if k.Meta != nil {
		m := *k.Meta
		c.Meta = &m
	}
	return &c
}

// KeyringRotateResponse answers PUT /v1/operator/keyring/rotate.
type KeyringRotateResponse struct {
	Key   *RootKeyMeta `json:"Key"`
	Index uint64       `json:"Index"`
}
