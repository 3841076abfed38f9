package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/gossip"
)

// KeyringBackend is this agent's gossip keyring.
type KeyringBackend interface {
	Keys() ([]string, error)
	ChangeKey(op gossip.KeyOp, key string) error
}

// keyringLocalHeader marks a keyring request fanned out by another agent:
// the receiver applies it to itself only (still behind the same token
// check).
const keyringLocalHeader = "X-Orch-Keyring-Local"

// KeyringResponse is Nomad's answer to the keyring endpoints: how many
// members hold each key, and what failed where.
type KeyringResponse struct {
	Messages map[string]string `json:"Messages"`
	Keys     map[string]int    `json:"Keys"`
	NumNodes int               `json:"NumNodes"`
}

// KeyringRequest names the key of install, use and remove.
type KeyringRequest struct {
	Key string `json:"Key"`
}

func (s *Server) keyringRoutes(rt *router) {
	// Gossip keys are secrets and changing them can split the cluster:
	// every operation needs agent:write.
	w := agentLevel(acl.PolicyWrite)
	rt.handle("GET /v1/agent/keyring/list", w, s.keyringOp(""))
	for _, op := range []gossip.KeyOp{gossip.KeyInstall, gossip.KeyUse, gossip.KeyRemove} {
		rt.handle("PUT /v1/agent/keyring/"+string(op), w, s.keyringOp(op))
		rt.handle("POST /v1/agent/keyring/"+string(op), w, s.keyringOp(op))
	}
}

// keyringOp applies op (or lists, for "") on this agent and, unless the
// request was fanned out to it, on every other live member of the pool.
func (s *Server) keyringOp(op gossip.KeyOp) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Keyring == nil {
			writeError(w, codedErr(http.StatusBadRequest, "gossip keyring is not available on this agent"))
			return
		}
		var body []byte
		var req KeyringRequest
		if op != "" {
			var err error
			if body, err = decodeBodyRaw(r, &req); err != nil {
				writeError(w, err)
				return
			}
			if req.Key == "" {
				writeError(w, codedErr(http.StatusBadRequest, "Key must be specified"))
				return
			}
		}
		resp := &KeyringResponse{Messages: map[string]string{}, Keys: map[string]int{}}
		s.keyringLocal(op, req.Key, resp)
		if r.Header.Get(keyringLocalHeader) == "" && s.cfg.KeyringPeers != nil {
			s.keyringFanOut(r, body, resp)
		}
		if op != "" && len(resp.Messages) > 0 {
			// Nomad answers a partly failed operation with an error.
			b, _ := json.Marshal(resp.Messages)
			writeError(w, codedErr(http.StatusInternalServerError, "%d of %d agents failed: %s", len(resp.Messages), resp.NumNodes, b))
			return
		}
		writeJSON(w, r, http.StatusOK, resp)
	}
}

func (s *Server) keyringLocal(op gossip.KeyOp, key string, resp *KeyringResponse) {
	name := "this agent"
	if s.srv != nil {
		name = s.srv.NodeName()
	}
	resp.NumNodes++
	if op != "" {
		if err := s.cfg.Keyring.ChangeKey(op, key); err != nil {
			resp.Messages[name] = err.Error()
		}
	}
	keys, err := s.cfg.Keyring.Keys()
	if err != nil {
		resp.Messages[name] = err.Error()
		return
	}
	for _, k := range keys {
		resp.Keys[k]++
	}
}

// keyringFanOut repeats the request on every peer, in parallel, and merges
// their answers.
func (s *Server) keyringFanOut(r *http.Request, body []byte, resp *KeyringResponse) {
	peers := s.cfg.KeyringPeers()
	scheme := "http"
	if s.cfg.PeerTLS != nil {
		scheme = "https"
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: s.cfg.PeerTLS}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, peer := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pr KeyringResponse
			err := s.keyringCall(r.Context(), hc, r, scheme+"://"+peer+r.URL.Path, body, &pr)
			mu.Lock()
			defer mu.Unlock()
			resp.NumNodes++
			if err != nil {
				resp.Messages[peer] = err.Error()
				return
			}
			for k, n := range pr.Keys {
				resp.Keys[k] += n
			}
			for node, m := range pr.Messages {
				resp.Messages[peer+" "+node] = m
			}
		}()
	}
	wg.Wait()
}

func (s *Server) keyringCall(ctx context.Context, hc *http.Client, orig *http.Request, url string, body []byte, out *KeyringResponse) error {
	req, err := http.NewRequestWithContext(ctx, orig.Method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(keyringLocalHeader, "1")
	if tok := secretOf(orig); tok != "" {
		req.Header.Set("X-Nomad-Token", tok)
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", res.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}
