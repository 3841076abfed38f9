package jobspec

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// decoder carries the evaluation context and the diagnostics gathered while
// turning a job body into structs. Decoding never stops at the first error:
// every problem in the file is reported in one pass.
type decoder struct {
	ctx        *hcl.EvalContext
	diags      hcl.Diagnostics
	driverSpec func(driver string) hcldec.Spec
	// explicit records the address of every struct field the file set, so
	// Canonicalize can tell "attempts = 0" from "attempts not given".
	explicit map[any]bool
	// ranges records where in the source each decoded block (by its
	// pointer) and attribute (by its field's address) came from, so a
	// field the field-state table refuses is reported at its position.
	ranges map[any]hcl.Range
	// filename names the job file, for diagnostics without a position.
	filename string
	// syntaxBodies indexes native-syntax bodies by their start position so a
	// (possibly dynblock-wrapped) body can be asked whether it spells a
	// map-like field as `meta = {...}` or as a `meta {...}` block.
	syntaxBodies map[bodyKey]*hclsyntax.Body
}

type bodyKey struct {
	file string
	off  int
}

// mark records that the field at ptr was set explicitly, at rng.
func (d *decoder) mark(ptr any, rng hcl.Range) {
	if d.explicit == nil {
		d.explicit = map[any]bool{}
	}
	d.explicit[ptr] = true
	d.at(ptr, rng)
}

// at records that the object at ptr was decoded from rng.
func (d *decoder) at(ptr any, rng hcl.Range) {
	if rng.Filename == "" && rng.Start.Byte == 0 && rng.End.Byte == 0 {
		return
	}
	if d.ranges == nil {
		d.ranges = map[any]hcl.Range{}
	}
	d.ranges[ptr] = rng
}

func (d *decoder) add(diags hcl.Diagnostics) { d.diags = append(d.diags, diags...) }

func (d *decoder) errorf(rng hcl.Range, summary, detailFmt string, args ...any) {
	d.diags = append(d.diags, diagErr(rng, summary, detailFmt, args...))
}

// indexSyntax records every native-syntax body of a file.
func (d *decoder) indexSyntax(body hcl.Body) {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return
	}
	if d.syntaxBodies == nil {
		d.syntaxBodies = map[bodyKey]*hclsyntax.Body{}
	}
	var walk func(b *hclsyntax.Body)
	walk = func(b *hclsyntax.Body) {
		d.syntaxBodies[bodyKey{b.SrcRange.Filename, b.SrcRange.Start.Byte}] = b
		for _, blk := range b.Blocks {
			walk(blk.Body)
		}
	}
	walk(sb)
}

// hasSyntaxAttr reports whether body is native syntax and defines name as an
// attribute (rather than as a block).
func (d *decoder) hasSyntaxAttr(body hcl.Body, name string) bool {
	r := body.MissingItemRange()
	sb := d.syntaxBodies[bodyKey{r.Filename, r.Start.Byte}]
	if sb == nil {
		return false
	}
	_, ok := sb.Attributes[name]
	return ok
}

// content decodes body against a schema. Names in mapFields are map-valued
// fields (meta, env, ...) that Nomad accepts both as `name = {...}` and as a
// `name {...}` block; the schema is adapted per body so either form works.
func (d *decoder) content(body hcl.Body, s *hcl.BodySchema, mapFields ...string) *hcl.BodyContent {
	if len(mapFields) > 0 {
		ext := &hcl.BodySchema{
			Attributes: append([]hcl.AttributeSchema(nil), s.Attributes...),
			Blocks:     append([]hcl.BlockHeaderSchema(nil), s.Blocks...),
		}
		for _, f := range mapFields {
			if d.hasSyntaxAttr(body, f) {
				ext.Attributes = append(ext.Attributes, hcl.AttributeSchema{Name: f})
			} else {
				ext.Blocks = append(ext.Blocks, hcl.BlockHeaderSchema{Type: f})
			}
		}
		s = ext
	}
	c, diags := body.Content(s)
	d.add(diags)
	if c == nil {
		c = &hcl.BodyContent{Attributes: hcl.Attributes{}}
	}
	return c
}

// isRuntimeRoot reports whether a variable root is left for the client (or
// the task's shell) to resolve rather than evaluated at parse time: every
// root but var and local. Nomad keeps ${node.*}, ${attr.*}, ${meta.*},
// ${NOMAD_*} and also ${PATH}, ${PWD} or ${value} in a heredoc script as
// they are written; only var.x and local.x that do not exist are errors.
func isRuntimeRoot(name string) bool { return name != "var" && name != "local" }

// defined reports whether ctx (or a parent) defines the variable name, as
// a dynamic block's iterator or templatefile's vars do.
func defined(ctx *hcl.EvalContext, name string) bool {
	for c := ctx; c != nil; c = c.Parent() {
		if _, ok := c.Variables[name]; ok {
			return true
		}
	}
	return false
}

// runtimeNode is a tree of the runtime references an expression uses; leaves
// evaluate to their own "${...}" text so the client can interpolate them.
type runtimeNode struct {
	text     string
	children map[string]*runtimeNode
}

func (n *runtimeNode) value() cty.Value {
	if len(n.children) == 0 {
		return cty.StringVal(n.text)
	}
	m := make(map[string]cty.Value, len(n.children))
	for k, c := range n.children {
		m[k] = c.value()
	}
	return cty.ObjectVal(m)
}

// ctxFor returns the context to evaluate an expression referencing vars in:
// the base context plus literal stand-ins for runtime references.
func (d *decoder) ctxFor(vars []hcl.Traversal) *hcl.EvalContext {
	return runtimeContext(d.ctx, vars)
}

func runtimeContext(base *hcl.EvalContext, vars []hcl.Traversal) *hcl.EvalContext {
	roots := map[string]*runtimeNode{}
	for _, t := range vars {
		root := t.RootName()
		if !isRuntimeRoot(root) || defined(base, root) {
			continue
		}
		path := []string{root}
		for _, step := range t[1:] {
			switch s := step.(type) {
			case hcl.TraverseAttr:
				path = append(path, s.Name)
				continue
			case hcl.TraverseIndex:
				if s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull() {
					path = append(path, s.Key.AsString())
					continue
				}
			}
			break
		}
		n := roots[root]
		if n == nil {
			n = &runtimeNode{}
			roots[root] = n
		}
		for _, p := range path[1:] {
			if n.children == nil {
				n.children = map[string]*runtimeNode{}
			}
			c := n.children[p]
			if c == nil {
				c = &runtimeNode{}
				n.children[p] = c
			}
			n = c
		}
		n.text = "${" + strings.Join(path, ".") + "}"
	}
	if len(roots) == 0 {
		return base
	}
	child := base.NewChild()
	child.Variables = make(map[string]cty.Value, len(roots))
	for k, n := range roots {
		child.Variables[k] = n.value()
	}
	return child
}

// eval evaluates an attribute. ok is false when the value is null (treated
// as unset) or could not be evaluated (a diagnostic was recorded).
func (d *decoder) eval(attr *hcl.Attribute) (cty.Value, bool) {
	return d.evalExpr(attr.Expr)
}

func (d *decoder) evalExpr(expr hcl.Expression) (cty.Value, bool) {
	v, diags := expr.Value(d.ctxFor(expr.Variables()))
	d.add(diags)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return v, false
	}
	if !v.IsWhollyKnown() {
		d.errorf(expr.Range(), "Unknown value", "The value cannot be determined when the job is parsed.")
		return cty.NilVal, false
	}
	return v, true
}

func (d *decoder) typeErr(attr *hcl.Attribute, want string, got cty.Type) {
	d.errorf(attr.Expr.Range(), "Incorrect attribute value type",
		"Inappropriate value for attribute %q: %s required, got %s.", attr.Name, want, got.FriendlyName())
}

// attrs reads typed values out of a decoded body's attributes. Values
// are converted the way HCL (and so Nomad) converts them: "200" where a
// number belongs is 200, 1000 where a string belongs is "1000", "true"
// where a bool belongs is true; what HCL cannot convert ("dc1" where a
// list is required) is an error with its position.
type attrs struct {
	d *decoder
	m hcl.Attributes
}

func (d *decoder) attrs(c *hcl.BodyContent) attrs { return attrs{d: d, m: c.Attributes} }

func (a attrs) has(name string) bool { return a.m[name] != nil }

// rng is the source range of the named attribute (zero when absent).
func (a attrs) rng(name string) hcl.Range {
	if attr := a.m[name]; attr != nil {
		return attr.Range
	}
	return hcl.Range{}
}

// value evaluates the named attribute and converts it to ty. ok is false
// when it is absent, null, or could not be evaluated or converted (a
// diagnostic was recorded).
func (a attrs) value(name string, ty cty.Type) (cty.Value, bool) {
	attr := a.m[name]
	if attr == nil {
		return cty.NilVal, false
	}
	v, ok := a.d.eval(attr)
	if !ok {
		return cty.NilVal, false
	}
	return a.d.convert(v, ty, attr.Expr.Range(), attr.Name)
}

// convert converts v to ty as HCL does, reporting a failure at rng.
func (d *decoder) convert(v cty.Value, ty cty.Type, rng hcl.Range, name string) (cty.Value, bool) {
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.errorf(rng, "Incorrect attribute value type", "Inappropriate value for attribute %q: %s.", name, err.Error())
		return cty.NilVal, false
	}
	if cv.IsNull() {
		return cty.NilVal, false
	}
	return cv, true
}

func (a attrs) str(name string, dst *string) bool {
	v, ok := a.value(name, cty.String)
	if !ok {
		return false
	}
	*dst = v.AsString()
	a.d.mark(dst, a.rng(name))
	return true
}

func (a attrs) boolean(name string, dst *bool) bool {
	v, ok := a.value(name, cty.Bool)
	if !ok {
		return false
	}
	*dst = v.True()
	a.d.mark(dst, a.rng(name))
	return true
}

func (a attrs) boolPtr(name string, dst **bool) {
	var b bool
	if a.boolean(name, &b) {
		*dst = &b
	}
}

func (a attrs) int64In(name string, lo, hi int64) (int64, bool) {
	attr := a.m[name]
	v, ok := a.value(name, cty.Number)
	if !ok {
		return 0, false
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		a.d.errorf(attr.Expr.Range(), "Invalid number", "Attribute %q must be a whole number, got %s.", name, bf.Text('g', -1))
		return 0, false
	}
	i, acc := bf.Int64()
	if acc != big.Exact || i < lo || i > hi {
		a.d.errorf(attr.Expr.Range(), "Number out of range", "Attribute %q must be between %d and %d.", name, lo, hi)
		return 0, false
	}
	return i, true
}

func (a attrs) integer(name string, dst *int) bool {
	i, ok := a.int64In(name, math.MinInt32, math.MaxInt32)
	if ok {
		*dst = int(i)
		a.d.mark(dst, a.rng(name))
	}
	return ok
}

func (a attrs) intPtr(name string, dst **int) {
	var i int
	if a.integer(name, &i) {
		*dst = &i
	}
}

func (a attrs) int8(name string, dst *int8) {
	if i, ok := a.int64In(name, math.MinInt8, math.MaxInt8); ok {
		*dst = int8(i)
		a.d.mark(dst, a.rng(name))
	}
}

func (a attrs) uint8(name string, dst *uint8) {
	if i, ok := a.int64In(name, 0, math.MaxUint8); ok {
		*dst = uint8(i)
		a.d.mark(dst, a.rng(name))
	}
}

func (a attrs) uint64(name string, dst *uint64) {
	if i, ok := a.int64In(name, 0, math.MaxInt64); ok {
		*dst = uint64(i)
		a.d.mark(dst, a.rng(name))
	}
}

// duration reads a Go duration string such as "30s" or "1h30m".
func (a attrs) duration(name string, dst *time.Duration) bool {
	attr := a.m[name]
	var s string
	if !a.str(name, &s) {
		return false
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		a.d.errorf(attr.Expr.Range(), "Invalid duration", "Attribute %q: %q is not a duration such as \"30s\" or \"5m\".", name, s)
		return false
	}
	*dst = dur
	a.d.mark(dst, a.rng(name))
	return true
}

func (a attrs) durationPtr(name string, dst **time.Duration) {
	var dur time.Duration
	if a.duration(name, &dur) {
		*dst = &dur
	}
}

func (a attrs) strList(name string, dst *[]string) bool {
	v, ok := a.value(name, cty.List(cty.String))
	if !ok {
		return false
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			a.d.errorf(a.m[name].Expr.Range(), "Incorrect attribute value type", "Inappropriate value for attribute %q: list elements must not be null.", name)
			return false
		}
		out = append(out, e.AsString())
	}
	*dst = out
	return true
}

// strMapValue converts an object or map value of strings.
func (d *decoder) strMapValue(v cty.Value, rng hcl.Range, name string) (map[string]string, bool) {
	cv, ok := d.convert(v, cty.Map(cty.String), rng, name)
	if !ok {
		return nil, false
	}
	out := make(map[string]string, cv.LengthInt())
	for it := cv.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			continue
		}
		out[k.AsString()] = e.AsString()
	}
	return out, true
}

// strMap reads a map-valued field given either as an attribute or as one or
// more blocks whose attributes are the entries. Later entries win.
func (d *decoder) strMap(c *hcl.BodyContent, name string, dst *map[string]string) {
	if attr := c.Attributes[name]; attr != nil {
		v, ok := d.eval(attr)
		if !ok {
			return
		}
		if m, ok := d.strMapValue(v, attr.Expr.Range(), name); ok {
			*dst = m
		}
		return
	}
	for _, blk := range c.Blocks.OfType(name) {
		as, diags := blk.Body.JustAttributes()
		d.add(diags)
		if *dst == nil {
			*dst = map[string]string{}
		}
		for _, attr := range sortedAttrs(as) {
			v, ok := d.eval(attr)
			if !ok {
				continue
			}
			if sv, ok := d.convert(v, cty.String, attr.Expr.Range(), attr.Name); ok {
				(*dst)[attr.Name] = sv.AsString()
			}
		}
	}
}

// sortedAttrs orders attributes by source position so diagnostics come out
// in file order.
func sortedAttrs(as hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(as))
	for _, a := range as {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Range.Start.Byte != out[j].Range.Start.Byte {
			return out[i].Range.Start.Byte < out[j].Range.Start.Byte
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// atMostOne reports a duplicate when a block that may appear once repeats,
// and returns the first one (or nil).
func (d *decoder) atMostOne(c *hcl.BodyContent, typ string) *hcl.Block {
	blocks := c.Blocks.OfType(typ)
	if len(blocks) == 0 {
		return nil
	}
	for _, b := range blocks[1:] {
		d.errorf(b.DefRange, "Duplicate "+typ+" block", "Only one %q block is allowed here; another was defined at %s.", typ, rangeStr(blocks[0].DefRange))
	}
	return blocks[0]
}

func rangeStr(r hcl.Range) string {
	return r.Filename + ":" + strconv.Itoa(r.Start.Line) + ":" + strconv.Itoa(r.Start.Column)
}

// schema builds a body schema: attrs are optional attributes; blocks are
// "type" or "type:label" for one-label blocks.
func schema(attrNames []string, blocks ...string) *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, n := range attrNames {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	for _, b := range blocks {
		typ, label, hasLabel := strings.Cut(b, ":")
		h := hcl.BlockHeaderSchema{Type: typ}
		if hasLabel {
			h.LabelNames = []string{label}
		}
		s.Blocks = append(s.Blocks, h)
	}
	return s
}

var _ = fmt.Sprintf

// templateString converts a primitive produced by a quoted template such as
// "${var.port}" to its string form.
func templateString(expr hcl.Expression, v cty.Value) (string, bool) {
	if _, ok := hcl.UnwrapExpression(expr).(*hclsyntax.TemplateWrapExpr); !ok {
		return "", false
	}
	if !v.Type().IsPrimitiveType() {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil || s.IsNull() {
		return "", false
	}
	return s.AsString(), true
}
