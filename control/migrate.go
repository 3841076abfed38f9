package control

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

// MethodMigrateInfo tells a node running the replacement of an allocation
// with a sticky or migrating ephemeral disk where the previous allocation
// is and, when its data must come from another node, the token that node
// accepts for it. Auth: AuthNode; only for the caller's own allocations.
const MethodMigrateInfo = "Alloc.MigrateInfo"

// MigrateInfoRequest names the caller's (new) allocation.
type MigrateInfoRequest struct {
	AllocID string `json:"AllocID"`
}

// MigrateInfoResponse describes the previous allocation.
type MigrateInfoResponse struct {
	PrevAllocID string `json:"PrevAllocID"`
	PrevNodeID  string `json:"PrevNodeID"`
	// PrevNodeDown is set when the previous node is down or gone: its
	// data cannot be fetched.
	PrevNodeDown bool `json:"PrevNodeDown"`
	// PrevNodeHTTPAddr is the previous node's HTTP address and
	// PrevNodeTLS whether it serves HTTPS.
	PrevNodeHTTPAddr string `json:"PrevNodeHTTPAddr"`
	PrevNodeTLS      bool   `json:"PrevNodeTLS"`
	// Token authorizes fetching the previous allocation's data from its
	// node (GET /v1/client/allocation/<prev>/snapshot); set only when the
	// group migrates its disk and the previous allocation is on another
	// node.
	Token string `json:"Token,omitempty"`
}

// MigrateToken is the token for fetching allocID's data from the node
// whose secret is nodeSecret: an HMAC only that node and the servers can
// compute, so the node checks it without asking anyone, and the servers
// hand it only to the node that runs the allocation's replacement.
func MigrateToken(nodeSecret, allocID string) string {
	m := hmac.New(sha256.New, []byte(nodeSecret))
	m.Write([]byte("orch-migrate\x00" + allocID))
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyMigrateToken reports whether token is MigrateToken(nodeSecret,
// allocID), in constant time.
func VerifyMigrateToken(nodeSecret, allocID, token string) bool {
	if nodeSecret == "" || token == "" {
		return false
	}
	want := MigrateToken(nodeSecret, allocID)
	return subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}
