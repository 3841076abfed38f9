package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/structs"
)

// aclWorld is a test agent with ACLs on and one of everything: a node, a
// job with its eval and allocation in "default", a namespace "other", a
// policy, a role and a client token carrying both.
type aclWorld struct {
	t       *testing.T
	b       *httpapitest.Backend
	srv     *httptest.Server
	mgmt    *structs.ACLToken
	node    *structs.Node
	job     *structs.Job
	allocID string
	evalID  string
	policy  string
	role    *structs.ACLRole
	holder  *structs.ACLToken // has policy and role
	seq     int
}

func newACLWorld(t *testing.T) *aclWorld {
	t.Helper()
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	w := &aclWorld{t: t, b: b, policy: "target-policy"}
	cl := httpapitest.NewClient(structs.GenerateUUID())
	w.srv = httptest.NewServer(New(Config{Server: b, Client: cl, Logger: quietLogger(), ACLEnabled: true, Resolver: b.Resolver()}))
	t.Cleanup(w.srv.Close)
	ctx := t.Context()
	if w.mgmt, _, err = b.BootstrapACL(ctx, ""); err != nil {
		t.Fatal(err)
	}
	w.node = httpapitest.TestNode("n1", "")
	if _, err := b.RegisterNode(ctx, w.node); err != nil {
		t.Fatal(err)
	}
	w.job = testJob("matrix-job", 1)
	resp, err := b.RegisterJob(ctx, &structs.JobRegisterRequest{Job: w.job})
	if err != nil {
		t.Fatal(err)
	}
	w.evalID = resp.EvalID
	allocs, err := b.State().AllocsByJob(nil, "default", w.job.ID)
	if err != nil || len(allocs) == 0 {
		t.Fatalf("no allocation placed: %v", err)
	}
	w.allocID = allocs[0].ID
	if _, err := b.UpsertNamespaces(ctx, []*structs.Namespace{{Name: "other"}}); err != nil {
		t.Fatal(err)
	}
	w.addPolicy(w.policy, `node { policy = "read" }`)
	if w.role, _, err = b.UpsertACLRole(ctx, &structs.ACLRole{Name: "target-role",
		Policies: []*structs.ACLRolePolicyLink{{Name: w.policy}}}); err != nil {
		t.Fatal(err)
	}
	w.holder = w.token([]string{w.policy}, []*structs.ACLTokenRoleLink{{ID: w.role.ID}})
	return w
}

func (w *aclWorld) addPolicy(name, rules string) {
	w.t.Helper()
	if _, err := w.b.UpsertACLPolicies(w.t.Context(), []*structs.ACLPolicy{{Name: name, Rules: rules}}); err != nil {
		w.t.Fatalf("policy %s: %v\n%s", name, err, rules)
	}
}

// token creates a client token with the given policies and roles.
func (w *aclWorld) token(policies []string, roles []*structs.ACLTokenRoleLink) *structs.ACLToken {
	w.t.Helper()
	tok, _, err := w.b.UpsertACLToken(w.t.Context(), &structs.ACLToken{Type: structs.ACLTokenTypeClient, Policies: policies, Roles: roles})
	if err != nil {
		w.t.Fatal(err)
	}
	return tok
}

// tokenWith creates a client token from rules.
func (w *aclWorld) tokenWith(rules string) *structs.ACLToken {
	w.seq++
	name := fmt.Sprintf("p%d", w.seq)
	w.addPolicy(name, rules)
	return w.token([]string{name}, nil)
}

// fill replaces a route pattern's wildcards with the world's objects.
func (w *aclWorld) fill(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	repl := func(wild, val string) { path = strings.ReplaceAll(path, wild, val) }
	switch {
	case strings.HasPrefix(path, "/v1/job/"):
		repl("{id}", w.job.ID)
	case strings.HasPrefix(path, "/v1/allocation/"):
		repl("{id}", w.allocID)
	case strings.HasPrefix(path, "/v1/evaluation/"):
		repl("{id}", w.evalID)
	case strings.HasPrefix(path, "/v1/node/"):
		repl("{id}", w.node.ID)
	case strings.HasPrefix(path, "/v1/acl/role/name/"):
		repl("{name}", w.role.Name)
	case strings.HasPrefix(path, "/v1/acl/role/"):
		repl("{id}", w.role.ID)
	case strings.HasPrefix(path, "/v1/acl/policy/"):
		repl("{name}", w.policy)
	case strings.HasPrefix(path, "/v1/namespace/"):
		repl("{name}", "default")
	}
	repl("{alloc}", w.allocID)
	repl("{accessor}", w.holder.AccessorID)
	repl("{path...}", "app/config")
	if strings.HasPrefix(path, "/v1/client/fs/logs/") {
		path += "?task=t&type=stdout"
	}
	if strings.HasSuffix(path, "/action") {
		path += "?task=t&group=g&action=a&allocID=" + w.allocID
	}
	for strings.Contains(path, "{") {
		i, j := strings.Index(path, "{"), strings.Index(path, "}")
		path = path[:i] + "x" + path[j+1:]
	}
	return method, path
}

// body returns a request body that gets past decoding for the route.
func (w *aclWorld) body(method, path string) string {
	if method != "PUT" && method != "POST" {
		return ""
	}
	j, _ := json.Marshal(map[string]any{"Job": testJob(w.job.ID, 1)})
	switch {
	case path == "/v1/jobs" || strings.HasPrefix(path, "/v1/job/") || path == "/v1/validate/job":
		return string(j)
	case path == "/v1/jobs/parse":
		return `{"JobHCL": "job \"x\" {}"}`
	case strings.HasPrefix(path, "/v1/namespace"):
		return `{"Name": "default", "Description": "d"}`
	case strings.HasPrefix(path, "/v1/acl/policy/"):
		return fmt.Sprintf(`{"Name": %q, "Rules": "node { policy = \"read\" }"}`, w.policy)
	case path == "/v1/acl/token":
		return fmt.Sprintf(`{"Type": "client", "Policies": [%q]}`, w.policy)
	case strings.HasPrefix(path, "/v1/acl/token/"):
		return fmt.Sprintf(`{"AccessorID": %q, "Type": "client", "Policies": [%q]}`, w.holder.AccessorID, w.policy)
	case path == "/v1/acl/role":
		return fmt.Sprintf(`{"Name": "another-role", "Policies": [{"Name": %q}]}`, w.policy)
	case strings.HasPrefix(path, "/v1/acl/role/"):
		return fmt.Sprintf(`{"ID": %q, "Name": "target-role", "Policies": [{"Name": %q}]}`, w.role.ID, w.policy)
	}
	return "{}"
}

func (w *aclWorld) call(method, path, secret string) (int, string) {
	w.t.Helper()
	req := httptest.NewRequest(method, w.srv.URL+path, strings.NewReader(w.body(method, path)))
	req.RequestURI = ""
	if secret != "" {
		req.Header.Set("X-Nomad-Token", secret)
	}
	resp, err := w.srv.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	sb.Write(buf[:n])
	return resp.StatusCode, sb.String()
}

// grantRules is a policy granting exactly what n needs ("" when no policy
// can: management and the handler-decided needs).
func grantRules(n need) string {
	switch n.class {
	case classNamespace:
		return fmt.Sprintf(`namespace "default" { capabilities = [%q] }`, n.cap)
	case classNamespaceAny:
		return `namespace "default" { capabilities = ["list-jobs"] }`
	case classNode, classAgent, classOperator, classPlugin, classQuota:
		return fmt.Sprintf(`%s { policy = %q }`, levelBlockName(n.class), n.cap)
	case classHostVolume:
		return fmt.Sprintf(`host_volume "*" { capabilities = [%q] }`, n.cap)
	case classVariable:
		return fmt.Sprintf("namespace \"default\" {\n variables {\n path \"*\" { capabilities = [%q] }\n }\n}", n.cap)
	}
	return ""
}

func levelBlockName(c needClass) string {
	return map[needClass]string{classNode: "node", classAgent: "agent", classOperator: "operator",
		classPlugin: "plugin", classQuota: "quota"}[c]
}

// withoutRules grants everything a client token can hold except n: every
// other class at its highest level, every other namespace capability in
// "default", and everything in "other".
func withoutRules(n need) string {
	var b strings.Builder
	var caps []string
	for _, c := range acl.NamespaceCapabilities() {
		if c == acl.NamespaceCapabilityDeny || (n.class == classNamespace && c == n.cap) {
			continue
		}
		caps = append(caps, fmt.Sprintf("%q", c))
	}
	vars := []string{}
	for _, op := range []string{"list", "read", "write", "destroy"} {
		if !(n.class == classVariable && op == n.cap) {
			vars = append(vars, fmt.Sprintf("%q", op))
		}
	}
	if n.class == classNamespaceAny {
		fmt.Fprintf(&b, "namespace \"default\" { policy = \"deny\" }\n")
	} else {
		fmt.Fprintf(&b, "namespace \"default\" {\n capabilities = [%s]\n variables {\n path \"*\" { capabilities = [%s] }\n }\n}\n",
			strings.Join(caps, ", "), strings.Join(vars, ", "))
	}
	otherCaps := caps
	if n.class == classNamespace {
		otherCaps = append(otherCaps, fmt.Sprintf("%q", n.cap))
	}
	fmt.Fprintf(&b, "namespace \"other\" {\n policy = \"write\"\n capabilities = [%s]\n}\n", strings.Join(otherCaps, ", "))
	for _, c := range []needClass{classNode, classAgent, classOperator, classPlugin, classQuota} {
		level := "write"
		if c == n.class {
			level = map[string]string{"write": "read", "read": "list", "list": "deny"}[n.cap]
			if c != classPlugin && level == "list" {
				level = "deny"
			}
		}
		fmt.Fprintf(&b, "%s { policy = %q }\n", levelBlockName(c), level)
	}
	if n.class == classHostVolume {
		fmt.Fprintf(&b, "host_volume \"*\" { policy = \"deny\" }\n")
	} else {
		fmt.Fprintf(&b, "host_volume \"*\" { policy = \"write\" }\n")
	}
	return b.String()
}

// holderSpec says, for a tokenHolder route (the handler decides), which
// token has the need and whether callers without it are refused (403) or
// served a filtered list (200).
type holderSpec struct {
	with     func(w *aclWorld) *structs.ACLToken
	filtered bool
	// without is the need whose withoutRules a refused token holds;
	// management (everything a client token can hold) by default.
	without *need
}

var holderSpecs = map[string]holderSpec{
	"GET /v1/namespaces": {filtered: true},
	"GET /v1/namespace/{name}": {with: func(w *aclWorld) *structs.ACLToken { return w.tokenWith(grantRules(namespaceAny())) },
		without: &need{class: classNamespaceAny}},
	"GET /v1/acl/policies":         {filtered: true},
	"GET /v1/acl/policy/{name}":    {with: func(w *aclWorld) *structs.ACLToken { return w.holder }},
	"GET /v1/acl/token/self":       {with: func(w *aclWorld) *structs.ACLToken { return w.holder }},
	"GET /v1/acl/token/{accessor}": {with: func(w *aclWorld) *structs.ACLToken { return w.holder }},
	"GET /v1/acl/roles":            {filtered: true},
	"GET /v1/acl/role/{id}":        {with: func(w *aclWorld) *structs.ACLToken { return w.holder }},
	"GET /v1/acl/role/name/{name}": {with: func(w *aclWorld) *structs.ACLToken { return w.holder }},
	// Variables a token may not list are left out of the list.
	"GET /v1/vars": {filtered: true},
}

// TestACLMatrix: every route of the router, against no token, an anonymous
// policy granting its need, a token with everything but its need, a token
// with exactly its need, and a management token. Denials are 403; grants
// are anything else (the handler may still answer 400 or 404).
func TestACLMatrix(t *testing.T) {
	routes := newACLWorld(t).routes()
	if len(routes) < 40 {
		t.Fatalf("router lists only %d routes", len(routes))
	}
	for _, r := range routes {
		t.Run(r.Pattern, func(t *testing.T) { checkRoute(t, r) })
	}
}

func (w *aclWorld) routes() []route {
	s, ok := w.srv.Config.Handler.(*Server)
	if !ok {
		w.t.Fatal("handler is not *Server")
	}
	return s.routeTable()
}

func checkRoute(t *testing.T, r route) {
	w := newACLWorld(t)
	method, path := w.fill(r.Pattern)
	expect := func(who, secret string, denied bool) {
		t.Helper()
		code, body := w.call(method, path, secret)
		if denied && code != 403 {
			t.Errorf("%s (%s) with %s: %d %q, want 403", r.Pattern, r.Need, who, code, body)
		}
		if !denied && code == 403 {
			t.Errorf("%s (%s) with %s: 403 %q, want it allowed", r.Pattern, r.Need, who, body)
		}
	}
	switch r.Need.class {
	case classPublic:
		expect("no token", "", false)
		expect("an unknown token", "not-a-token", false)
		expect("management", w.mgmt.SecretID, false)
		return
	case classToken:
		spec, ok := holderSpecs[r.Pattern]
		if !ok {
			t.Fatalf("%s decides in its handler: add it to holderSpecs", r.Pattern)
		}
		expect("an unknown token", "not-a-token", true)
		if spec.filtered {
			expect("no token", "", false)
			expect("a token without it", w.tokenWith(withoutRules(need{class: classManagement})).SecretID, false)
		} else {
			expect("no token", "", true)
			if r.Pattern != "GET /v1/acl/token/self" {
				lacks := need{class: classManagement}
				if spec.without != nil {
					lacks = *spec.without
				}
				expect("a token without it", w.tokenWith(withoutRules(lacks)).SecretID, true)
			}
			expect("a token with it", spec.with(w).SecretID, false)
		}
		expect("management", w.mgmt.SecretID, false)
		return
	}
	expect("no token", "", true)
	expect("an unknown token", "not-a-token", true)
	expect("a token without it", w.tokenWith(withoutRules(r.Need)).SecretID, true)
	if rules := grantRules(r.Need); rules != "" {
		expect("a token with it", w.tokenWith(rules).SecretID, false)
		w.addPolicy(structs.AnonymousACLPolicy, rules)
		expect("the anonymous policy granting it", "", false)
	}
	expect("management", w.mgmt.SecretID, false)
}

// The routes anyone may call without a token. Adding one is a security
// decision: it must be listed here.
var unauthenticated = map[string]bool{
	"GET /v1/status/leader": true,
	"GET /v1/status/peers":  true,
	// A server's own Raft log position and leader contact, which the
	// leader's autopilot asks every server for.
	"GET /v1/status/raft":                   true,
	"GET /v1/regions":                       true,
	"GET /v1/agent/health":                  true,
	"GET /.well-known/jwks.json":            true,
	"GET /.well-known/openid-configuration": true,
	"PUT /v1/acl/bootstrap":                 true,
	"POST /v1/acl/bootstrap":                true,
	// A node's migrate token, checked by the client backend.
	"GET /v1/client/allocation/{alloc}/snapshot": true,
}

func TestUnauthenticatedRoutesAreListed(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range newACLWorld(t).routes() {
		if seen[r.Pattern] {
			t.Errorf("route %s registered twice", r.Pattern)
		}
		seen[r.Pattern] = true
		open := r.Need.class == classPublic
		if open != unauthenticated[r.Pattern] {
			t.Errorf("%s is %s: unauthenticated routes and the list in this test must agree", r.Pattern, r.Need)
		}
	}
}

// Lists across namespaces (namespace=*) show only what the token may see.
func TestWildcardNamespaceListsFilter(t *testing.T) {
	w := newACLWorld(t)
	otherJob := testJob("other-job", 1)
	otherJob.Namespace = "other"
	if _, err := w.b.RegisterJob(t.Context(), &structs.JobRegisterRequest{Job: otherJob}); err != nil {
		t.Fatal(err)
	}
	onlyOther := w.tokenWith(`namespace "other" { policy = "read" }`)
	for _, path := range []string{"/v1/jobs", "/v1/allocations", "/v1/evaluations"} {
		code, body := w.callFull("GET", path+"?namespace=*", onlyOther.SecretID)
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		if strings.Contains(body, `"Namespace":"default"`) || !strings.Contains(body, `"Namespace":"other"`) {
			t.Errorf("%s?namespace=* for a token of namespace other: %s", path, body)
		}
		code, body = w.callFull("GET", path+"?namespace=*", w.mgmt.SecretID)
		if code != 200 || !strings.Contains(body, `"Namespace":"default"`) || !strings.Contains(body, `"Namespace":"other"`) {
			t.Errorf("%s?namespace=* for management: %d %s", path, code, body)
		}
	}
}

// callFull is call with the whole reply body.
func (w *aclWorld) callFull(method, path, secret string) (int, string) {
	w.t.Helper()
	req := httptest.NewRequest(method, w.srv.URL+path, nil)
	req.RequestURI = ""
	if secret != "" {
		req.Header.Set("X-Nomad-Token", secret)
	}
	resp, err := w.srv.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
