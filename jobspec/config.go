package jobspec

import (
	"fmt"
	"math/big"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decodeDriverConfig turns a task's `config {}` block into the map the API
// carries. With a driver schema the block is checked against it (unknown
// or mistyped keys are errors with position), accepting, as Nomad does,
// the attribute form of block keys (`mount = [{...}]` for `mount {...}`)
// and the block form of map keys (`labels {...}` for `labels = {...}`),
// and converting values as HCL converts them. Without one it is converted
// generically.
func (d *decoder) decodeDriverConfig(driver string, b *hcl.Block) map[string]any {
	var spec hcldec.Spec
	if d.driverSpec != nil && driver != "" {
		spec = d.driverSpec(driver)
	}
	if spec == nil {
		return d.genericBody(b.Body)
	}
	if os, ok := spec.(hcldec.ObjectSpec); ok && supportedSpec(os) {
		return d.configBody(b.Body, os)
	}
	ctx := runtimeContext(d.ctx, hcldec.Variables(b.Body, spec))
	v, diags := hcldec.Decode(b.Body, spec, ctx)
	d.add(diags)
	if diags.HasErrors() {
		return nil
	}
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		d.errorf(b.DefRange, "Unknown value", "The driver config cannot be determined when the job is parsed.")
		return nil
	}
	m, _ := ctyToGo(v).(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

// supportedSpec reports whether configBody understands every part of spec
// (the spec kinds drivers use: attributes, blocks and lists of blocks of
// nested object specs).
func supportedSpec(spec hcldec.ObjectSpec) bool {
	for _, s := range spec {
		switch s := s.(type) {
		case *hcldec.AttrSpec:
		case *hcldec.BlockSpec:
			n, ok := s.Nested.(hcldec.ObjectSpec)
			if !ok || !supportedSpec(n) {
				return false
			}
		case *hcldec.BlockListSpec:
			n, ok := s.Nested.(hcldec.ObjectSpec)
			if !ok || !supportedSpec(n) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// specEntry is one key of an object spec: its output key, HCL name and
// either an attribute type or a nested block spec.
type specEntry struct {
	key    string
	name   string
	attr   *hcldec.AttrSpec
	nested hcldec.ObjectSpec
	list   bool // a list of blocks (BlockListSpec) rather than one
}

func specEntries(spec hcldec.ObjectSpec) []specEntry {
	out := make([]specEntry, 0, len(spec))
	for key, s := range spec {
		switch s := s.(type) {
		case *hcldec.AttrSpec:
			out = append(out, specEntry{key: key, name: s.Name, attr: s})
		case *hcldec.BlockSpec:
			out = append(out, specEntry{key: key, name: s.TypeName, nested: s.Nested.(hcldec.ObjectSpec)})
		case *hcldec.BlockListSpec:
			out = append(out, specEntry{key: key, name: s.TypeName, nested: s.Nested.(hcldec.ObjectSpec), list: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func isMapLike(ty cty.Type) bool { return ty.IsMapType() || ty.IsObjectType() }

// configBody decodes a config body against spec. The schema passed to HCL
// is chosen per body from how the file spells each key, so both forms
// work and HCL still reports unknown keys and duplicates with positions.
func (d *decoder) configBody(body hcl.Body, spec hcldec.ObjectSpec) map[string]any {
	entries := specEntries(spec)
	schema := &hcl.BodySchema{}
	for _, e := range entries {
		asAttr := e.attr != nil
		switch {
		case e.attr != nil && isMapLike(e.attr.Type) && d.hasSyntaxBlock(body, e.name):
			asAttr = false
		case e.attr == nil && d.hasSyntaxAttr(body, e.name):
			asAttr = true
		}
		if asAttr {
			schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: e.name, Required: e.attr != nil && e.attr.Required})
		} else {
			schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: e.name})
		}
	}
	c, diags := body.Content(schema)
	d.add(diags)
	if c == nil {
		return nil
	}
	out := map[string]any{}
	for _, e := range entries {
		if attr := c.Attributes[e.name]; attr != nil {
			if v, ok := d.configAttr(attr, e); ok {
				out[e.key] = v
			}
			continue
		}
		blocks := c.Blocks.OfType(e.name)
		if len(blocks) == 0 {
			continue
		}
		switch {
		case e.attr != nil: // a map written as a block
			m := map[string]any{}
			for _, blk := range blocks {
				as, diags := blk.Body.JustAttributes()
				d.add(diags)
				for _, a := range sortedAttrs(as) {
					if v, ok := d.eval(a); ok {
						m[a.Name] = ctyToGo(v)
					}
				}
			}
			if v, ok := d.convert(goToCty(m), e.attr.Type, blocks[0].DefRange, e.name); ok {
				out[e.key] = ctyToGo(v)
			}
		case e.list:
			list := make([]map[string]any, 0, len(blocks))
			for _, blk := range blocks {
				list = append(list, d.configBody(blk.Body, e.nested))
			}
			out[e.key] = list
		default:
			for _, blk := range blocks[1:] {
				d.errorf(blk.DefRange, "Duplicate "+e.name+" block", "Only one %q block is allowed here; another was defined at %s.", e.name, rangeStr(blocks[0].DefRange))
			}
			out[e.key] = d.configBody(blocks[0].Body, e.nested)
		}
	}
	return out
}

// configAttr decodes an attribute against its entry: converted to the
// attribute's type, or, for a block key written as an attribute, an
// object (or list of objects) checked against the nested spec.
func (d *decoder) configAttr(attr *hcl.Attribute, e specEntry) (any, bool) {
	v, ok := d.eval(attr)
	if !ok {
		return nil, false
	}
	rng := attr.Expr.Range()
	if e.attr != nil {
		cv, ok := d.convert(v, e.attr.Type, rng, attr.Name)
		if !ok {
			return nil, false
		}
		return ctyToGo(cv), true
	}
	ty := v.Type()
	if !e.list {
		if !isMapLike(ty) {
			d.errorf(rng, "Incorrect attribute value type", "Inappropriate value for attribute %q: an object is required.", attr.Name)
			return nil, false
		}
		return d.configObject(v, e.nested, rng, attr.Name)
	}
	if isMapLike(ty) {
		// One object where a list of blocks is expected: a list of one.
		m, ok := d.configObject(v, e.nested, rng, attr.Name)
		return []map[string]any{m}, ok
	}
	if !(ty.IsListType() || ty.IsTupleType() || ty.IsSetType()) {
		d.errorf(rng, "Incorrect attribute value type", "Inappropriate value for attribute %q: a list of objects is required.", attr.Name)
		return nil, false
	}
	out := make([]map[string]any, 0, v.LengthInt())
	good := true
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		_, ev := it.Element()
		if ev.IsNull() || !isMapLike(ev.Type()) {
			d.errorf(rng, "Incorrect attribute value type", "Inappropriate value for %s[%d]: an object is required.", attr.Name, i)
			good = false
			continue
		}
		m, ok := d.configObject(ev, e.nested, rng, fmt.Sprintf("%s[%d]", attr.Name, i))
		good = good && ok
		out = append(out, m)
	}
	return out, good
}

// configObject checks an object value against a nested object spec.
func (d *decoder) configObject(v cty.Value, spec hcldec.ObjectSpec, rng hcl.Range, path string) (map[string]any, bool) {
	entries := map[string]specEntry{}
	for _, e := range specEntries(spec) {
		entries[e.name] = e
	}
	out := map[string]any{}
	good := true
	for it := v.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		name := k.AsString()
		e, known := entries[name]
		if !known {
			d.errorf(rng, "Unsupported argument", "An argument named %q is not expected in %s.", name, path)
			good = false
			continue
		}
		if ev.IsNull() {
			continue
		}
		var val any
		var ok bool
		switch {
		case e.attr != nil:
			var cv cty.Value
			if cv, ok = d.convert(ev, e.attr.Type, rng, path+"."+name); ok {
				val = ctyToGo(cv)
			}
		case isMapLike(ev.Type()) && !e.list:
			val, ok = d.configObject(ev, e.nested, rng, path+"."+name)
		case isMapLike(ev.Type()):
			var m map[string]any
			m, ok = d.configObject(ev, e.nested, rng, path+"."+name)
			val = []map[string]any{m}
		default:
			var list []map[string]any
			ok = ev.Type().IsListType() || ev.Type().IsTupleType()
			for it2 := ev.ElementIterator(); ok && it2.Next(); {
				_, x := it2.Element()
				m, mok := d.configObject(x, e.nested, rng, path+"."+name)
				ok = ok && mok
				list = append(list, m)
			}
			if !ok {
				d.errorf(rng, "Incorrect attribute value type", "Inappropriate value for %s.%s: an object or list of objects is required.", path, name)
			}
			val = list
		}
		if !ok {
			good = false
			continue
		}
		out[e.key] = val
	}
	for _, e := range entries {
		if e.attr != nil && e.attr.Required {
			if _, ok := out[e.key]; !ok {
				d.errorf(rng, "Missing required argument", "The argument %q is required in %s.", e.name, path)
				good = false
			}
		}
	}
	return out, good
}

// hasSyntaxBlock reports whether body is native syntax and has a block of
// the given type.
func (d *decoder) hasSyntaxBlock(body hcl.Body, typ string) bool {
	r := body.MissingItemRange()
	sb := d.syntaxBodies[bodyKey{r.Filename, r.Start.Byte}]
	if sb == nil {
		return false
	}
	for _, b := range sb.Blocks {
		if b.Type == typ || (b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == typ) {
			return true
		}
	}
	return false
}

// goToCty converts plain values back into cty for type conversion.
func goToCty(v any) cty.Value {
	switch x := v.(type) {
	case nil:
		return cty.NullVal(cty.DynamicPseudoType)
	case string:
		return cty.StringVal(x)
	case bool:
		return cty.BoolVal(x)
	case int64:
		return cty.NumberIntVal(x)
	case float64:
		return cty.NumberFloatVal(x)
	case map[string]any:
		m := make(map[string]cty.Value, len(x))
		for k, e := range x {
			m[k] = goToCty(e)
		}
		return cty.ObjectVal(m)
	case []any:
		l := make([]cty.Value, len(x))
		for i, e := range x {
			l[i] = goToCty(e)
		}
		return cty.TupleVal(l)
	case []map[string]any:
		l := make([]cty.Value, len(x))
		for i, e := range x {
			l[i] = goToCty(e)
		}
		return cty.TupleVal(l)
	}
	return cty.NullVal(cty.DynamicPseudoType)
}

// genericBody converts a body without a schema: attributes become values,
// nested blocks become lists of maps keyed by block type (a labelled block
// nests its body under its label), matching Nomad's API JSON.
func (d *decoder) genericBody(body hcl.Body) map[string]any {
	out := map[string]any{}
	r := body.MissingItemRange()
	sb := d.syntaxBodies[bodyKey{r.Filename, r.Start.Byte}]
	if sb == nil {
		// JSON syntax: every property is an attribute; objects convert to maps.
		as, diags := body.JustAttributes()
		d.add(diags)
		for _, attr := range sortedAttrs(as) {
			if v, ok := d.eval(attr); ok {
				out[attr.Name] = ctyToGo(v)
			}
		}
		return out
	}
	for _, attr := range sb.Attributes {
		if v, ok := d.evalExpr(attr.Expr); ok {
			out[attr.Name] = ctyToGo(v)
		}
	}
	for _, blk := range sb.Blocks {
		if blk.Type == "dynamic" {
			d.errorf(blk.DefRange(), "Unsupported block", "dynamic blocks in a driver config need the driver's schema.")
			continue
		}
		if _, clash := sb.Attributes[blk.Type]; clash {
			d.errorf(blk.DefRange(), "Duplicate argument", "%q is defined both as an argument and as a block.", blk.Type)
			continue
		}
		inner := d.genericBody(blk.Body)
		for i := len(blk.Labels) - 1; i >= 0; i-- {
			inner = map[string]any{blk.Labels[i]: inner}
		}
		list, _ := out[blk.Type].([]map[string]any)
		out[blk.Type] = append(list, inner)
	}
	return out
}

// ctyToGo converts a known cty value to plain Go values: whole numbers to
// int64, others to float64, lists/sets/tuples to []any (or []map[string]any
// when every element is an object, the shape blocks take), objects and maps
// to map[string]any. Null attributes are dropped from maps.
func ctyToGo(v cty.Value) any {
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return v.AsString()
	case ty == cty.Bool:
		return v.True()
	case ty == cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInt() {
			if i, acc := bf.Int64(); acc == big.Exact {
				return i
			}
		}
		f, _ := bf.Float64()
		return f
	case ty.IsObjectType() || ty.IsMapType():
		m := make(map[string]any, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if e.IsNull() {
				continue
			}
			m[k.AsString()] = ctyToGo(e)
		}
		return m
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		n := v.LengthInt()
		items := make([]any, 0, n)
		allMaps := n > 0
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			g := ctyToGo(e)
			if _, ok := g.(map[string]any); !ok {
				allMaps = false
			}
			items = append(items, g)
		}
		if allMaps {
			ms := make([]map[string]any, len(items))
			for i, it := range items {
				ms[i] = it.(map[string]any)
			}
			return ms
		}
		return items
	}
	return nil
}

var _ = hclsyntax.Body{}
