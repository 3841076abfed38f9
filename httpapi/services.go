package httpapi

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// ServicesBackend is what a server offers for the service catalog's
// writes; reads come from the local replica.
type ServicesBackend interface {
	UpsertServiceRegistrations(ctx context.Context, nodeID string, regs []*structs.ServiceRegistration) (uint64, error)
	DeregisterNodeServices(ctx context.Context, nodeID string, ids []string) (uint64, error)
	DeleteServiceRegistration(ctx context.Context, ns, name, id string) (uint64, error)
}

func (s *Server) serviceRoutes(rt *router) {
	read := acl.NamespaceCapabilityReadJob
	// Tasks discover their namespace's services with their workload identity.
	rt.handle("GET /v1/services", nsQueryOrWorkload(read), s.read(s.serviceList))
	rt.handle("GET /v1/service/{name}", nsQueryOrWorkload(read), s.read(s.serviceInfo))
	rt.handle("DELETE /v1/service/{name}/{id}", nsQuery(acl.NamespaceCapabilitySubmitJob), s.write(s.serviceDelete))
	rt.handle("GET /v1/job/{id}/services", nsQuery(read), s.read(s.jobServices))
	rt.handle("GET /v1/allocation/{id}/services", nsObject(read), s.read(s.allocServices))
}

// serviceList is GET /v1/services: per namespace, each service's name and
// the union of its instances' tags, sorted.
func (s *Server) serviceList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	ns := r.URL.Query().Get("namespace")
	if ns == "" {
		ns = structs.DefaultNamespace
	}
	regs, err := st.ServiceRegistrations(ws, ns)
	if err != nil {
		return 0, nil, err
	}
	allowed := listFilter(r, acl.NamespaceCapabilityReadJob)
	type key struct{ ns, name string }
	tags := map[key]map[string]bool{}
	for _, reg := range regs {
		if !allowed(reg.Namespace) {
			continue
		}
		k := key{reg.Namespace, reg.ServiceName}
		if tags[k] == nil {
			tags[k] = map[string]bool{}
		}
		for _, t := range reg.Tags {
			tags[k][t] = true
		}
	}
	keys := make([]key, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].ns != keys[j].ns {
			return keys[i].ns < keys[j].ns
		}
		return keys[i].name < keys[j].name
	})
	out := []*structs.ServiceRegistrationListStub{}
	for _, k := range keys {
		if len(out) == 0 || out[len(out)-1].Namespace != k.ns {
			out = append(out, &structs.ServiceRegistrationListStub{Namespace: k.ns})
		}
		stub := &structs.ServiceRegistrationStub{ServiceName: k.name, Tags: []string{}}
		for t := range tags[k] {
			stub.Tags = append(stub.Tags, t)
		}
		sort.Strings(stub.Tags)
		last := out[len(out)-1]
		last.Services = append(last.Services, stub)
	}
	idx, err := st.Index(state.TableServiceRegistrations)
	return idx, out, err
}

// serviceInfo is GET /v1/service/<name>: the service's instances, only
// those carrying ?tag= (repeatable), and with ?choose=<n>|<key> the n
// instances rendezvous hashing picks for key.
func (s *Server) serviceInfo(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	q := r.URL.Query()
	regs, err := st.ServiceRegistrationsByName(ws, namespaceOf(r), r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	regs = FilterServicesByTags(regs, q["tag"])
	if c := q.Get("choose"); c != "" {
		n, key, err := ParseChoose(c)
		if err != nil {
			return 0, nil, codedErr(http.StatusBadRequest, "%v", err)
		}
		regs = structs.ChooseServices(regs, n, key)
	}
	idx, err := st.Index(state.TableServiceRegistrations)
	return idx, regs, err
}

// FilterServicesByTags keeps the registrations that carry every tag.
func FilterServicesByTags(regs []*structs.ServiceRegistration, tags []string) []*structs.ServiceRegistration {
	if len(tags) == 0 {
		return regs
	}
	out := []*structs.ServiceRegistration{}
	for _, reg := range regs {
		ok := true
		for _, t := range tags {
			if !slices.Contains(reg.Tags, t) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, reg)
		}
	}
	return out
}

// ParseChoose parses Nomad's "<count>|<key>" choose parameter.
func ParseChoose(c string) (int, string, error) {
	ns, key, ok := strings.Cut(c, "|")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n < 1 || key == "" {
		return 0, "", errInvalidChoose(c)
	}
	return n, key, nil
}

type errInvalidChoose string

func (e errInvalidChoose) Error() string {
	return "invalid choose parameter " + strconv.Quote(string(e)) + ": want <count>|<key>"
}

func (s *Server) serviceDelete(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	if s.cfg.Services == nil {
		return nil, 0, codedErr(http.StatusNotImplemented, "the service catalog is not served by this agent")
	}
	idx, err := s.cfg.Services.DeleteServiceRegistration(r.Context(), namespaceOf(r), r.PathValue("name"), r.PathValue("id"))
	if err != nil {
		return nil, 0, err
	}
	return struct{}{}, idx, nil
}

func (s *Server) jobServices(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	ns, id := namespaceOf(r), r.PathValue("id")
	job, err := st.JobByID(ws, ns, id)
	if err != nil {
		return 0, nil, err
	}
	if job == nil {
		return 0, nil, codedErr(http.StatusNotFound, "job not found")
	}
	regs, err := st.ServiceRegistrationsByJob(ws, ns, id)
	if err != nil {
		return 0, nil, err
	}
	idx, err := st.Index(state.TableServiceRegistrations)
	return idx, regs, err
}

func (s *Server) allocServices(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	a, err := st.AllocByID(ws, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if a == nil {
		return 0, nil, codedErr(http.StatusNotFound, "alloc not found")
	}
	if err := authzOf(r).AllowNamespace(a.Namespace, acl.NamespaceCapabilityReadJob); err != nil {
		return 0, nil, err
	}
	regs, err := st.ServiceRegistrationsByAlloc(ws, a.ID)
	if err != nil {
		return 0, nil, err
	}
	idx, err := st.Index(state.TableServiceRegistrations)
	return idx, regs, err
}
