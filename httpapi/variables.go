package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/keyring"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// VariablesBackend is what a server offers for variables and the keyring.
// Reads decrypt from the local replica with Keyring; writes run on the
// leader.
type VariablesBackend interface {
	Keyring() *keyring.Keyring
	WriteVariable(ctx context.Context, req *structs.VariableWriteRequest) (*structs.VariableDecrypted, uint64, error)
	RenewVariableLock(ctx context.Context, ns, path, lockID string) (*structs.VariableMetadata, error)
	RotateRootKey(ctx context.Context, algorithm string, full bool, publishTime int64) (*structs.KeyringRotateResponse, error)
	DeleteRootKey(ctx context.Context, id string, force bool) (uint64, error)
}

func (s *Server) variableRoutes(rt *router) {
	// A list spans paths: the handler keeps those the caller may list.
	rt.handle("GET /v1/vars", tokenHolder(), s.read(s.varList))
	rt.handle("GET /v1/var/{path...}", variableOp(acl.VariablesCapabilityRead), s.read(s.varGet))
	rt.handle("PUT /v1/var/{path...}", variableOp(acl.VariablesCapabilityWrite), s.write(s.varPut))
	rt.handle("POST /v1/var/{path...}", variableOp(acl.VariablesCapabilityWrite), s.write(s.varPut))
	rt.handle("DELETE /v1/var/{path...}", variableOp(acl.VariablesCapabilityDestroy), s.write(s.varDelete))
	// Root keys are management-only in Nomad.
	rt.handle("GET /v1/operator/keyring/keys", management(), s.read(s.keyringList))
	rt.handle("PUT /v1/operator/keyring/rotate", management(), s.write(s.keyringRotate))
	rt.handle("POST /v1/operator/keyring/rotate", management(), s.write(s.keyringRotate))
	rt.handle("DELETE /v1/operator/keyring/key/{id}", management(), s.write(s.keyringDelete))
}

func (s *Server) varsBackend() (VariablesBackend, error) {
	if s.cfg.Variables == nil {
		return nil, codedErr(http.StatusNotImplemented, "variables are not served by this agent")
	}
	return s.cfg.Variables, nil
}

// varPath is the variable path of a /v1/var/<path> request, cleaned as
// Nomad's client cleans it (no leading or trailing slashes or spaces).
func varPath(r *http.Request) string { return strings.Trim(r.PathValue("path"), " /") }

func (s *Server) varGet(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	vb, err := s.varsBackend()
	if err != nil {
		return 0, nil, err
	}
	v, err := st.VariableByPath(ws, namespaceOf(r), varPath(r))
	if err != nil {
		return 0, nil, err
	}
	if v == nil {
		idx, err := st.Index(state.TableVariables)
		if err != nil {
			return 0, nil, err
		}
		return idx, nil, codedErr(http.StatusNotFound, "variable not found")
	}
	dec, err := vb.Keyring().Decrypt(st, v)
	if err != nil {
		return 0, nil, err
	}
	return v.ModifyIndex, dec, nil
}

func (s *Server) varList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	l, err := parseListing(r)
	if err != nil {
		return 0, nil, err
	}
	ns := r.URL.Query().Get("namespace")
	if ns == "" {
		ns = structs.DefaultNamespace
	}
	// The page token is the path of the first variable left out; across
	// namespaces, "<namespace>.<path>" (neither may contain a dot).
	fromNS, fromPath := "", ""
	if l.nextToken != "" {
		fromNS, fromPath = ns, l.nextToken
		if ns == "*" {
			fromNS, fromPath, _ = strings.Cut(l.nextToken, ".")
		}
	}
	a := authzOf(r).ACL()
	out := []*structs.VariableMetadata{}
	var walkErr error
	err = st.Variables(ws, ns, r.URL.Query().Get("prefix"), fromNS, fromPath, func(v *structs.VariableEncrypted) bool {
		if !a.AllowVariableOperation(v.Namespace, v.Path, acl.VariablesCapabilityList) {
			return true
		}
		m := v.Metadata()
		tok := v.Path
		if ns == "*" {
			tok = v.Namespace + "." + v.Path
		}
		keep, more, err := l.add(&m, tok)
		if err != nil {
			walkErr = err
			return false
		}
		if keep {
			out = append(out, &m)
		}
		return more
	})
	if err == nil {
		err = walkErr
	}
	if err != nil {
		return 0, nil, err
	}
	idx, err := st.Index(state.TableVariables)
	return idx, l.reply(out), err
}

// varPut is PUT /v1/var/<path>, with ?cas=<index> or one of the lock
// operations ?lock-acquire, ?lock-renew, ?lock-release.
func (s *Server) varPut(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	vb, err := s.varsBackend()
	if err != nil {
		return nil, 0, err
	}
	var v structs.VariableDecrypted
	if err := decodeBody(r, &v); err != nil {
		return nil, 0, err
	}
	q := r.URL.Query()
	if ns := q.Get("namespace"); ns != "" || v.Namespace == "" {
		v.Namespace = namespaceOf(r)
	}
	v.Path = varPath(r)
	// Server-set fields are not the caller's to choose.
	v.CreateIndex, v.ModifyIndex, v.CreateTime, v.ModifyTime = 0, 0, 0, 0
	op := structs.VarOpSet
	for _, lockOp := range []string{structs.VarOpLockAcquire, structs.VarOpLockRelease, "lock-renew"} {
		if _, ok := q[lockOp]; !ok {
			continue
		}
		if op != structs.VarOpSet {
			return nil, 0, codedErr(http.StatusBadRequest, "only one lock operation may be given")
		}
		op = lockOp
	}
	checkIndex, err := casParam(r)
	if err != nil {
		return nil, 0, err
	}
	if op == "lock-renew" {
		lockID := ""
		if v.Lock != nil {
			lockID = v.Lock.ID
		}
		meta, err := vb.RenewVariableLock(r.Context(), v.Namespace, v.Path, lockID)
		if err != nil {
			return nil, 0, err
		}
		return meta, meta.ModifyIndex, nil
	}
	if op == structs.VarOpLockRelease && (v.Lock == nil || v.Lock.ID == "") {
		return nil, 0, codedErr(http.StatusBadRequest, "releasing a lock needs its lock ID")
	}
	out, idx, err := vb.WriteVariable(r.Context(), &structs.VariableWriteRequest{Op: op, Var: &v, CheckIndex: checkIndex})
	if err != nil {
		return nil, 0, err
	}
	return out, idx, nil
}

func (s *Server) varDelete(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	vb, err := s.varsBackend()
	if err != nil {
		return nil, 0, err
	}
	checkIndex, err := casParam(r)
	if err != nil {
		return nil, 0, err
	}
	v := &structs.VariableDecrypted{}
	v.Namespace, v.Path = namespaceOf(r), varPath(r)
	_, idx, err := vb.WriteVariable(r.Context(), &structs.VariableWriteRequest{Op: structs.VarOpDelete, Var: v, CheckIndex: checkIndex})
	if err != nil {
		return nil, 0, err
	}
	return noContent{}, idx, nil
}

func casParam(r *http.Request) (*uint64, error) {
	v := r.URL.Query().Get("cas")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil, codedErr(http.StatusBadRequest, "Invalid cas value %q", v)
	}
	return &n, nil
}

func (s *Server) keyringList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	keys, err := st.RootKeys(ws)
	if err != nil {
		return 0, nil, err
	}
	out := make([]*structs.RootKeyMeta, 0, len(keys))
	for _, k := range keys {
		m := *k.Meta
		out = append(out, &m)
	}
	idx, err := st.Index(state.TableRootKeys)
	return idx, out, err
}

func (s *Server) keyringRotate(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	vb, err := s.varsBackend()
	if err != nil {
		return nil, 0, err
	}
	q := r.URL.Query()
	full, err := queryBool(r, "full", false)
	if err != nil {
		return nil, 0, err
	}
	var publish int64
	if v := q.Get("publish_time"); v != "" {
		if publish, err = strconv.ParseInt(v, 10, 64); err != nil {
			return nil, 0, codedErr(http.StatusBadRequest, "Invalid publish_time %q", v)
		}
	}
	resp, err := vb.RotateRootKey(r.Context(), q.Get("algo"), full, publish)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}

func (s *Server) keyringDelete(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	vb, err := s.varsBackend()
	if err != nil {
		return nil, 0, err
	}
	force, err := queryBool(r, "force", false)
	if err != nil {
		return nil, 0, err
	}
	idx, err := vb.DeleteRootKey(r.Context(), r.PathValue("id"), force)
	if err != nil {
		return nil, 0, err
	}
	return struct{}{}, idx, nil
}
