package tmpl

import (
	"errors"
	"fmt"
	"strings"
	"text/template"

	"github.com/orch-project/orch/structs"
)

// dataFuncs are the functions that read the task's world: its environment
// and files, and the cluster's services and variables.
func dataFuncs(cfg *Config) template.FuncMap {
	return template.FuncMap{
		"env": func(name string) string { return cfg.Env[name] },
		"envOrDefault": func(name, def string) string {
			if v, ok := cfg.Env[name]; ok && v != "" {
				return v
			}
			return def
		},
		"file": func(name string) (string, error) {
			if cfg.ReadFile == nil {
				return "", errors.New("file: no files to read")
			}
			return cfg.ReadFile(name)
		},
		"nomadService":   func(args ...any) ([]*Service, error) { return nomadService(cfg, args...) },
		"nomadServices":  func() ([]*ServiceStub, error) { return nomadServices(cfg) },
		"nomadVar":       func(path string) (VarItems, error) { return nomadVar(cfg, path) },
		"nomadVarExists": func(path string) (bool, error) { return nomadVarExists(cfg, path) },
		"nomadVarList":   func(prefix ...string) ([]*VarMeta, error) { return nomadVarList(cfg, prefix...) },
	}
}

// nomadService is nomadService "[tag.]name[@region]", or nomadService
// COUNT KEY "[tag.]name": COUNT instances chosen for KEY by rendezvous
// hashing (stable while they exist), as Nomad's ?choose does.
func nomadService(cfg *Config, args ...any) ([]*Service, error) {
	var query string
	count, key := 0, ""
	switch len(args) {
	case 1:
		query = fmt.Sprint(args[0])
	case 3:
		n, err := toInt(args[0])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("nomadService: the count %v must be a positive number", args[0])
		}
		count, key, query = int(n), fmt.Sprint(args[1]), fmt.Sprint(args[2])
	default:
		return nil, fmt.Errorf("nomadService: takes a service, or a count, a key and a service; got %d arguments", len(args))
	}
	tag, name, err := parseServiceQuery(query, cfg.Region)
	if err != nil {
		return nil, err
	}
	if cfg.Data == nil {
		return nil, errors.New("nomadService: no cluster data")
	}
	regs, err := cfg.Data.Service(cfg.Namespace, name)
	if err != nil {
		return nil, fmt.Errorf("nomadService %q: %w", query, err)
	}
	if tag != "" {
		kept := regs[:0:0]
		for _, r := range regs {
			if ServiceTags(r.Tags).Contains(tag) {
				kept = append(kept, r)
			}
		}
		regs = kept
	}
	if count > 0 {
		regs = structs.ChooseServices(regs, count, key)
	}
	out := make([]*Service, 0, len(regs))
	for _, r := range regs {
		out = append(out, &Service{ID: r.ID, Name: r.ServiceName, Namespace: r.Namespace, Node: r.NodeID,
			Datacenter: r.Datacenter, JobID: r.JobID, AllocID: r.AllocID, Address: r.Address, Port: r.Port,
			Tags: append(ServiceTags(nil), r.Tags...), Meta: r.Meta, Status: r.Status})
	}
	return out, nil
}

// parseServiceQuery splits "[tag.]name[@region]". Service names cannot
// hold a dot, so a tag is everything before the last one.
func parseServiceQuery(q, region string) (tag, name string, err error) {
	if at := strings.LastIndex(q, "@"); at >= 0 {
		if r := q[at+1:]; region != "" && r != region {
			return "", "", fmt.Errorf("nomadService %q: region %q is not this cluster's (%q)", q, r, region)
		}
		q = q[:at]
	}
	name = q
	if dot := strings.LastIndex(q, "."); dot >= 0 {
		tag, name = q[:dot], q[dot+1:]
	}
	if !structs.ValidServiceName(name) {
		return "", "", fmt.Errorf("nomadService %q: %q is not a valid service name", q, name)
	}
	return tag, name, nil
}

func nomadServices(cfg *Config) ([]*ServiceStub, error) {
	if cfg.Data == nil {
		return nil, errors.New("nomadServices: no cluster data")
	}
	stubs, err := cfg.Data.Services(cfg.Namespace)
	if err != nil {
		return nil, fmt.Errorf("nomadServices: %w", err)
	}
	out := make([]*ServiceStub, 0, len(stubs))
	for _, s := range stubs {
		out = append(out, &ServiceStub{Name: s.ServiceName, Tags: append(ServiceTags(nil), s.Tags...)})
	}
	return out, nil
}

// varQuery splits "path[@namespace]".
func varQuery(cfg *Config, q string) (ns, path string) {
	ns = cfg.Namespace
	if at := strings.LastIndex(q, "@"); at >= 0 {
		ns, q = q[at+1:], q[:at]
	}
	return ns, strings.Trim(q, "/")
}

func nomadVar(cfg *Config, q string) (VarItems, error) {
	if cfg.Data == nil {
		return nil, errors.New("nomadVar: no cluster data")
	}
	ns, path := varQuery(cfg, q)
	v, err := cfg.Data.Variable(ns, path)
	if err != nil {
		return nil, fmt.Errorf("nomadVar %q: %w", q, err)
	}
	if v == nil {
		// consul-template renders nothing (with no error) until the
		// variable exists; the task waits for its first render.
		return nil, &MissingError{What: "variable " + q}
	}
	return VarItems(v.Items), nil
}

func nomadVarExists(cfg *Config, q string) (bool, error) {
	if cfg.Data == nil {
		return false, errors.New("nomadVarExists: no cluster data")
	}
	ns, path := varQuery(cfg, q)
	v, err := cfg.Data.Variable(ns, path)
	if err != nil {
		return false, fmt.Errorf("nomadVarExists %q: %w", q, err)
	}
	return v != nil, nil
}

func nomadVarList(cfg *Config, prefix ...string) ([]*VarMeta, error) {
	if cfg.Data == nil {
		return nil, errors.New("nomadVarList: no cluster data")
	}
	q := ""
	if len(prefix) > 0 {
		q = prefix[0]
	}
	ns, p := varQuery(cfg, q)
	metas, err := cfg.Data.Variables(ns, p)
	if err != nil {
		return nil, fmt.Errorf("nomadVarList %q: %w", q, err)
	}
	out := make([]*VarMeta, 0, len(metas))
	for _, m := range metas {
		out = append(out, &VarMeta{Namespace: m.Namespace, Path: m.Path, CreateIndex: m.CreateIndex,
			ModifyIndex: m.ModifyIndex, CreateTime: m.CreateTime, ModifyTime: m.ModifyTime})
	}
	return out, nil
}

// MissingError is a render that read data that does not exist yet (a
// variable not yet written): the template is not ready, and renders once
// the data appears.
type MissingError struct{ What string }

func (e *MissingError) Error() string { return e.What + " does not exist (yet)" }

// IsMissing reports whether err is (or wraps) a MissingError.
func IsMissing(err error) bool {
	var m *MissingError
	return errors.As(err, &m)
}
