package jobspec

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// Environment variable prefixes that set input variables. ORCH_VAR_ wins
// over NOMAD_VAR_ for the same name.
const (
	envVarPrefixNomad = "NOMAD_VAR_"
	envVarPrefixOrch  = "ORCH_VAR_"
)

type variable struct {
	name        string
	typ         cty.Type
	defaults    *typeexpr.Defaults
	value       cty.Value // NilVal until some source sets it
	declRange   hcl.Range
	validations []validation
}

type validation struct {
	condition hcl.Expression
	message   hcl.Expression
	rng       hcl.Range
}

var (
	variableSchema   = schema([]string{"type", "default", "description", "sensitive"}, "validation")
	validationSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true}, {Name: "error_message", Required: true},
	}}
)

// varSet collects declared input variables and resolves their values from,
// in increasing precedence: default, environment, var files, -var flags.
type varSet struct {
	vars  map[string]*variable
	order []string
	diags hcl.Diagnostics
	funcs map[string]function.Function
}

func (vs *varSet) errorf(rng hcl.Range, summary, detail string, args ...any) {
	vs.diags = append(vs.diags, diagErr(rng, summary, detail, args...))
}

// literalCtx is for defaults and var files: functions, but no references.
func (vs *varSet) literalCtx() *hcl.EvalContext {
	return &hcl.EvalContext{Functions: vs.funcs}
}

func (vs *varSet) declare(b *hcl.Block) {
	name := b.Labels[0]
	if !hclsyntax.ValidIdentifier(name) {
		vs.errorf(b.LabelRanges[0], "Invalid variable name", "%q is not a valid identifier.", name)
		return
	}
	if prev, dup := vs.vars[name]; dup {
		vs.errorf(b.DefRange, "Duplicate variable", "Variable %q was already declared at %s.", name, rangeStr(prev.declRange))
		return
	}
	c, diags := b.Body.Content(variableSchema)
	vs.diags = append(vs.diags, diags...)
	v := &variable{name: name, typ: cty.DynamicPseudoType, declRange: b.DefRange}
	if c == nil {
		vs.vars[name] = v
		vs.order = append(vs.order, name)
		return
	}
	if attr := c.Attributes["type"]; attr != nil {
		ty, defs, diags := typeexpr.TypeConstraintWithDefaults(attr.Expr)
		vs.diags = append(vs.diags, diags...)
		if !diags.HasErrors() {
			v.typ, v.defaults = ty, defs
		}
	}
	for _, n := range []string{"description", "sensitive"} {
		if attr := c.Attributes[n]; attr != nil {
			val, diags := attr.Expr.Value(vs.literalCtx())
			vs.diags = append(vs.diags, diags...)
			want := cty.String
			if n == "sensitive" {
				want = cty.Bool
			}
			if !diags.HasErrors() && !val.IsNull() && val.Type() != want {
				vs.errorf(attr.Expr.Range(), "Incorrect attribute value type", "%q must be a %s.", n, want.FriendlyName())
			}
		}
	}
	if attr := c.Attributes["default"]; attr != nil {
		val, diags := attr.Expr.Value(vs.literalCtx())
		vs.diags = append(vs.diags, diags...)
		if !diags.HasErrors() {
			v.value = vs.convert(v, val, attr.Expr.Range())
		}
	}
	for _, vb := range c.Blocks.OfType("validation") {
		vc, diags := vb.Body.Content(validationSchema)
		vs.diags = append(vs.diags, diags...)
		if vc != nil && vc.Attributes["condition"] != nil && vc.Attributes["error_message"] != nil {
			v.validations = append(v.validations, validation{
				condition: vc.Attributes["condition"].Expr,
				message:   vc.Attributes["error_message"].Expr,
				rng:       vb.DefRange,
			})
		}
	}
	vs.vars[name] = v
	vs.order = append(vs.order, name)
}

// convert applies the variable's type (and optional attribute defaults).
func (vs *varSet) convert(v *variable, val cty.Value, rng hcl.Range) cty.Value {
	if v.defaults != nil {
		val = v.defaults.Apply(val)
	}
	out, err := convert.Convert(val, v.typ)
	if err != nil {
		vs.errorf(rng, "Invalid value for variable", "Variable %q: %s.", v.name, err)
		return cty.NilVal
	}
	return out
}

// setFromString sets a variable from a -var flag or environment variable.
// For string (or untyped) variables the text is taken literally; for any
// other type it is parsed as an HCL expression, e.g. ["a","b"].
func (vs *varSet) setFromString(v *variable, raw string, rng hcl.Range) {
	if v.typ == cty.String || v.typ == cty.DynamicPseudoType {
		if val := vs.convert(v, cty.StringVal(raw), rng); val != cty.NilVal {
			v.value = val
		}
		return
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), rng.Filename, rng.Start)
	if diags.HasErrors() {
		vs.errorf(rng, "Invalid value for variable", "Variable %q: %q is not a valid expression for type %s.", v.name, raw, typeexpr.TypeString(v.typ))
		return
	}
	val, diags := expr.Value(vs.literalCtx())
	if diags.HasErrors() {
		vs.errorf(rng, "Invalid value for variable", "Variable %q: %q is not a valid %s value.", v.name, raw, typeexpr.TypeString(v.typ))
		return
	}
	if val := vs.convert(v, val, rng); val != cty.NilVal {
		v.value = val
	}
}

func (vs *varSet) applyEnv(envs []string) {
	for _, prefix := range []string{envVarPrefixNomad, envVarPrefixOrch} {
		for _, kv := range envs {
			k, val, ok := strings.Cut(kv, "=")
			if !ok || !strings.HasPrefix(k, prefix) {
				continue
			}
			// Undeclared names are ignored: the environment is shared with
			// every other job file the user parses.
			if v := vs.vars[strings.TrimPrefix(k, prefix)]; v != nil {
				vs.setFromString(v, val, hcl.Range{Filename: "<env " + k + ">", Start: hcl.InitialPos, End: hcl.InitialPos})
			}
		}
	}
}

func (vs *varSet) applyVarFile(path string, parse func([]byte, string) (*hcl.File, hcl.Diagnostics)) {
	src, err := os.ReadFile(path)
	if err != nil {
		vs.diags = append(vs.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Failed to read var file",
			Detail: err.Error(), Subject: &hcl.Range{Filename: path}})
		return
	}
	vs.applyVarSource(src, path, parse)
}

// applyVarSource assigns variables from the contents of a var file; name
// is how diagnostics refer to it.
func (vs *varSet) applyVarSource(src []byte, path string, parse func([]byte, string) (*hcl.File, hcl.Diagnostics)) {
	f, diags := parse(src, path)
	vs.diags = append(vs.diags, diags...)
	if diags.HasErrors() {
		return
	}
	as, diags := f.Body.JustAttributes()
	vs.diags = append(vs.diags, diags...)
	for _, attr := range sortedAttrs(as) {
		v := vs.vars[attr.Name]
		if v == nil {
			vs.errorf(attr.NameRange, "Undefined variable", "Variable %q is set in %s but not declared in the job file.", attr.Name, filepath.Base(path))
			continue
		}
		val, diags := attr.Expr.Value(vs.literalCtx())
		vs.diags = append(vs.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		if val := vs.convert(v, val, attr.Expr.Range()); val != cty.NilVal {
			v.value = val
		}
	}
}

func (vs *varSet) applyArgs(args []string) {
	for _, arg := range args {
		rng := hcl.Range{Filename: "<-var " + arg + ">", Start: hcl.InitialPos, End: hcl.InitialPos}
		k, val, ok := strings.Cut(arg, "=")
		if !ok {
			vs.diags = append(vs.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid -var option",
				Detail: "The -var option takes name=value, got " + arg + "."})
			continue
		}
		k = strings.TrimSpace(k)
		v := vs.vars[k]
		if v == nil {
			vs.diags = append(vs.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undefined -var variable",
				Detail: "A value was given for variable \"" + k + "\", which the job file does not declare."})
			continue
		}
		vs.setFromString(v, val, rng)
	}
}

// finish reports variables that have no value and runs validation rules;
// it returns the object bound to `var`.
func (vs *varSet) finish() cty.Value {
	obj := map[string]cty.Value{}
	for _, name := range vs.order {
		v := vs.vars[name]
		if v.value == cty.NilVal {
			vs.errorf(v.declRange, "Missing value for variable", "Variable %q has no default; set it with -var, a var file or %s%s.", name, envVarPrefixOrch, name)
			obj[name] = cty.UnknownVal(v.typ)
			continue
		}
		obj[name] = v.value
	}
	varObj := cty.ObjectVal(obj)
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": varObj}, Functions: vs.funcs}
	for _, name := range vs.order {
		v := vs.vars[name]
		if v.value == cty.NilVal {
			continue
		}
		for _, rule := range v.validations {
			ok, diags := rule.condition.Value(ctx)
			vs.diags = append(vs.diags, diags...)
			if diags.HasErrors() {
				continue
			}
			if ok.IsNull() || ok.Type() != cty.Bool || !ok.IsKnown() {
				vs.errorf(rule.condition.Range(), "Invalid validation condition", "The condition must be a bool.")
				continue
			}
			if ok.True() {
				continue
			}
			msg, diags := rule.message.Value(ctx)
			vs.diags = append(vs.diags, diags...)
			text := "validation failed"
			if !diags.HasErrors() && !msg.IsNull() && msg.Type() == cty.String {
				text = msg.AsString()
			}
			vs.errorf(rule.rng, "Invalid value for variable", "%s (variable %q).", text, name)
		}
	}
	return varObj
}

// evalLocals evaluates every `locals` attribute in dependency order, so a
// local may use another local defined later in the file.
func evalLocals(blocks hcl.Blocks, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	pending := map[string]*hcl.Attribute{}
	for _, b := range blocks {
		as, ds := b.Body.JustAttributes()
		diags = append(diags, ds...)
		for _, a := range sortedAttrs(as) {
			if prev, dup := pending[a.Name]; dup {
				diags = append(diags, diagErr(a.NameRange, "Duplicate local value", "Local %q was already defined at %s.", a.Name, rangeStr(prev.NameRange)))
				continue
			}
			pending[a.Name] = a
		}
	}
	done := map[string]cty.Value{}
	deps := func(a *hcl.Attribute) []string {
		var out []string
		for _, t := range a.Expr.Variables() {
			if t.RootName() != "local" || len(t) < 2 {
				continue
			}
			if step, ok := t[1].(hcl.TraverseAttr); ok {
				out = append(out, step.Name)
			}
		}
		return out
	}
	for len(pending) > 0 {
		progressed := false
		for _, a := range sortedAttrs(attrMap(pending)) {
			ready := true
			for _, dep := range deps(a) {
				if _, isPending := pending[dep]; isPending {
					ready = false
					break
				}
			}
			if !ready {
				continue
			}
			delete(pending, a.Name)
			progressed = true
			child := ctx.NewChild()
			child.Variables = map[string]cty.Value{"local": cty.ObjectVal(done)}
			v, ds := a.Expr.Value(runtimeContext(child, a.Expr.Variables()))
			diags = append(diags, ds...)
			if ds.HasErrors() {
				v = cty.DynamicVal
			}
			done[a.Name] = v
		}
		if !progressed {
			for _, a := range sortedAttrs(attrMap(pending)) {
				diags = append(diags, diagErr(a.Expr.Range(), "Cycle in local values", "Local %q depends on itself through other locals.", a.Name))
			}
			break
		}
	}
	return cty.ObjectVal(done), diags
}

func attrMap(m map[string]*hcl.Attribute) hcl.Attributes { return hcl.Attributes(m) }
