package jobspec

import (
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decodeDriverConfig turns a task's `config {}` block into the map the API
// carries. With a driver schema the block is checked against it (unknown
// or mistyped keys are errors with position); without one it is converted
// generically.
func (d *decoder) decodeDriverConfig(driver string, b *hcl.Block) map[string]any {
	var spec hcldec.Spec
	if d.driverSpec != nil && driver != "" {
		spec = d.driverSpec(driver)
	}
	if spec != nil {
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
	return d.genericBody(b.Body)
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
