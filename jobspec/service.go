package jobspec

import (
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-project/orch/structs"
)

var serviceSchema = schema(
	[]string{"name", "port", "tags", "canary_tags", "enable_tag_override", "address_mode", "address",
		"tagged_addresses", "task", "on_update", "provider", "cluster", "kind"},
	"check", "check_restart", "connect", "identity", "weights",
)

var weightsSchema = schema([]string{"passing", "warning"})

// services decodes every `service` block of a group or task body.
func (d *decoder) services(c *hcl.BodyContent) []*structs.Service {
	var out []*structs.Service
	for _, b := range c.Blocks.OfType("service") {
		out = append(out, d.decodeService(b))
	}
	return out
}

func (d *decoder) decodeService(b *hcl.Block) *structs.Service {
	c := d.content(b.Body, serviceSchema, "meta", "canary_meta")
	a := d.attrs(c)
	s := &structs.Service{}
	d.at(s, b.DefRange)
	a.str("name", &s.Name)
	d.portLabel(a, "port", &s.PortLabel)
	a.strList("tags", &s.Tags)
	a.strList("canary_tags", &s.CanaryTags)
	a.boolean("enable_tag_override", &s.EnableTagOverride)
	a.str("address_mode", &s.AddressMode)
	a.str("address", &s.Address)
	if attr := c.Attributes["tagged_addresses"]; attr != nil {
		if v, ok := d.eval(attr); ok {
			s.TaggedAddresses, _ = d.strMapValue(v, attr.Expr.Range(), attr.Name)
		}
	}
	a.str("task", &s.TaskName)
	a.str("on_update", &s.OnUpdate)
	a.str("provider", &s.Provider)
	a.str("cluster", &s.Cluster)
	a.str("kind", &s.Kind)
	d.strMap(c, "meta", &s.Meta)
	if cb := d.atMostOne(c, "connect"); cb != nil {
		s.Connect = d.opaque(cb)
	}
	if ib := d.atMostOne(c, "identity"); ib != nil {
		s.Identity = d.decodeIdentity(ib)
	}
	if wb := d.atMostOne(c, "weights"); wb != nil {
		wa := d.attrs(d.content(wb.Body, weightsSchema))
		s.Weights = &structs.ServiceWeights{}
		d.at(s.Weights, wb.DefRange)
		wa.integer("passing", &s.Weights.Passing)
		wa.integer("warning", &s.Weights.Warning)
	}
	d.strMap(c, "canary_meta", &s.CanaryMeta)

	// A service-level check_restart applies to every check that lacks its own.
	var svcRestart *structs.CheckRestart
	if rb := d.atMostOne(c, "check_restart"); rb != nil {
		svcRestart = d.decodeCheckRestart(rb)
		s.CheckRestart = svcRestart
	}
	for _, cb := range c.Blocks.OfType("check") {
		chk := d.decodeCheck(cb)
		if svcRestart != nil {
			chk.CheckRestart = d.mergeCheckRestart(svcRestart, chk.CheckRestart)
		}
		s.Checks = append(s.Checks, chk)
	}
	return s
}

// portLabel reads a port reference. Nomad accepts a label or a literal port
// number; numbers are kept as their decimal text, as Nomad's API does.
func (d *decoder) portLabel(a attrs, name string, dst *string) {
	attr := a.m[name]
	if attr == nil {
		return
	}
	v, ok := d.eval(attr)
	if !ok {
		return
	}
	switch v.Type() {
	case cty.String:
		*dst = v.AsString()
	case cty.Number:
		if i, ok := a.int64In(name, 1, 65535); ok {
			*dst = strconv.FormatInt(i, 10)
		}
	default:
		d.typeErr(attr, "string", v.Type())
	}
}

var checkSchema = schema(
	[]string{"name", "type", "command", "args", "path", "protocol", "port", "expose", "address_mode",
		"interval", "timeout", "initial_status", "tls_skip_verify", "method", "body", "task",
		"success_before_passing", "failures_before_critical", "on_update", "failures_before_warning",
		"advertise", "notes", "tls_server_name", "grpc_service", "grpc_use_tls"},
	"check_restart",
)

func (d *decoder) decodeCheck(b *hcl.Block) *structs.ServiceCheck {
	c := d.content(b.Body, checkSchema, "header")
	a := d.attrs(c)
	chk := &structs.ServiceCheck{}
	d.at(chk, b.DefRange)
	a.str("name", &chk.Name)
	a.str("type", &chk.Type)
	a.str("command", &chk.Command)
	a.strList("args", &chk.Args)
	a.str("path", &chk.Path)
	a.str("protocol", &chk.Protocol)
	d.portLabel(a, "port", &chk.PortLabel)
	a.boolean("expose", &chk.Expose)
	a.str("address_mode", &chk.AddressMode)
	a.duration("interval", &chk.Interval)
	a.duration("timeout", &chk.Timeout)
	a.str("initial_status", &chk.InitialStatus)
	a.boolean("tls_skip_verify", &chk.TLSSkipVerify)
	a.str("method", &chk.Method)
	a.str("body", &chk.Body)
	a.str("task", &chk.TaskName)
	a.integer("success_before_passing", &chk.SuccessBeforePassing)
	a.integer("failures_before_critical", &chk.FailuresBeforeCritical)
	a.str("on_update", &chk.OnUpdate)
	a.integer("failures_before_warning", &chk.FailuresBeforeWarning)
	a.str("advertise", &chk.Advertise)
	a.str("notes", &chk.Notes)
	a.str("tls_server_name", &chk.TLSServerName)
	a.str("grpc_service", &chk.GRPCService)
	a.boolean("grpc_use_tls", &chk.GRPCUseTLS)
	chk.Header = d.headerMap(c)
	if rb := d.atMostOne(c, "check_restart"); rb != nil {
		chk.CheckRestart = d.decodeCheckRestart(rb)
	}
	return chk
}

// headerMap reads a check's HTTP headers: each entry is a list of strings
// (a single string is accepted as a one-element list).
func (d *decoder) headerMap(c *hcl.BodyContent) map[string][]string {
	var entries []*hcl.Attribute
	if attr := c.Attributes["header"]; attr != nil {
		v, ok := d.eval(attr)
		if !ok {
			return nil
		}
		if !v.Type().IsObjectType() && !v.Type().IsMapType() {
			d.typeErr(attr, "map of list of string", v.Type())
			return nil
		}
		out := map[string][]string{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			vals, ok := stringsOf(e)
			if !ok {
				d.errorf(attr.Expr.Range(), "Incorrect attribute value type", "Header %q must be a list of strings.", k.AsString())
				continue
			}
			out[k.AsString()] = vals
		}
		return out
	}
	for _, hb := range c.Blocks.OfType("header") {
		as, diags := hb.Body.JustAttributes()
		d.add(diags)
		entries = append(entries, sortedAttrs(as)...)
	}
	if len(entries) == 0 {
		return nil
	}
	out := map[string][]string{}
	for _, attr := range entries {
		v, ok := d.eval(attr)
		if !ok {
			continue
		}
		vals, ok := stringsOf(v)
		if !ok {
			d.typeErr(attr, "list of string", v.Type())
			continue
		}
		out[attr.Name] = vals
	}
	return out
}

// stringsOf accepts a string or a list/tuple of strings.
func stringsOf(v cty.Value) ([]string, bool) {
	if v.IsNull() {
		return nil, false
	}
	if v.Type() == cty.String {
		return []string{v.AsString()}, true
	}
	ty := v.Type()
	if !(ty.IsListType() || ty.IsTupleType() || ty.IsSetType()) {
		return nil, false
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

var checkRestartSchema = schema([]string{"limit", "grace", "ignore_warnings"})

func (d *decoder) decodeCheckRestart(b *hcl.Block) *structs.CheckRestart {
	a := d.attrs(d.content(b.Body, checkRestartSchema))
	cr := &structs.CheckRestart{}
	d.at(cr, b.DefRange)
	a.integer("limit", &cr.Limit)
	a.duration("grace", &cr.Grace)
	a.boolean("ignore_warnings", &cr.IgnoreWarnings)
	return cr
}

// mergeCheckRestart layers a check's own check_restart over its service's,
// field by field, keeping the record of which fields were set.
func (d *decoder) mergeCheckRestart(svc, own *structs.CheckRestart) *structs.CheckRestart {
	out := *svc
	for _, f := range []struct{ dst, from any }{
		{&out.Limit, &svc.Limit}, {&out.Grace, &svc.Grace}, {&out.IgnoreWarnings, &svc.IgnoreWarnings},
	} {
		if d.explicit[f.from] {
			d.mark(f.dst, d.ranges[f.from])
		}
	}
	if own == nil {
		return &out
	}
	if d.explicit[&own.Limit] {
		out.Limit = own.Limit
		d.mark(&out.Limit, d.ranges[&own.Limit])
	}
	if d.explicit[&own.Grace] {
		out.Grace = own.Grace
		d.mark(&out.Grace, d.ranges[&own.Grace])
	}
	if d.explicit[&own.IgnoreWarnings] {
		out.IgnoreWarnings = own.IgnoreWarnings
		d.mark(&out.IgnoreWarnings, d.ranges[&own.IgnoreWarnings])
	}
	return &out
}
