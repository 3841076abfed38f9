package httpapi

import (
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"

	"github.com/orch-project/orch/keyring"
)

// IdentityBackend is what a server offers for workload identity
// verification by third parties.
type IdentityBackend interface {
	PublicSigningKeys() ([]keyring.PublicKey, error)
	OIDCIssuer() string
}

func (s *Server) identityRoutes(rt *router) {
	// Public by design: verifiers of workload identities (Vault, cloud
	// IAM, any OIDC consumer) fetch the keys without a token.
	rt.handle("GET /.well-known/jwks.json", public(), s.jwks)
	rt.handle("GET /.well-known/openid-configuration", public(), s.oidcDiscovery)
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func (s *Server) identityBackend() (IdentityBackend, error) {
	ib, ok := s.srv.(IdentityBackend)
	if !ok {
		return nil, codedErr(http.StatusNotFound, "workload identity keys are not available on this agent")
	}
	return ib, nil
}

// jwks publishes the keyring's public signing keys as a JSON Web Key Set.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	ib, err := s.identityBackend()
	if err != nil {
		writeError(w, err)
		return
	}
	keys, err := ib.PublicSigningKeys()
	if err != nil {
		writeError(w, err)
		return
	}
	out := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	b64 := base64.RawURLEncoding
	for _, k := range keys {
		out.Keys = append(out.Keys, jwk{Kty: "RSA", Kid: k.KeyID, Use: "sig", Alg: "RS256",
			N: b64.EncodeToString(k.Key.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(k.Key.E)).Bytes())})
	}
	// Verifiers may cache the set; new keys are prepublished ahead of use.
	w.Header().Set("Cache-Control", "max-age=3600")
	writeJSON(w, r, http.StatusOK, out)
}

// oidcDiscovery is the OpenID Connect discovery document, served when
// server { oidc_issuer } is set (as in Nomad: without an issuer there is
// nothing to discover).
func (s *Server) oidcDiscovery(w http.ResponseWriter, r *http.Request) {
	ib, err := s.identityBackend()
	if err != nil {
		writeError(w, err)
		return
	}
	issuer := strings.TrimRight(ib.OIDCIssuer(), "/")
	if issuer == "" {
		writeError(w, codedErr(http.StatusNotFound, "OIDC discovery is not configured: set server { oidc_issuer }"))
		return
	}
	writeJSON(w, r, http.StatusOK, map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              issuer + "/.well-known/jwks.json",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
	})
}
