// Package jobspec turns Nomad-style HCL2 job files (native or JSON syntax)
// and Nomad API JSON into structs.Job, applies Nomad's defaults
// (Canonicalize) and checks jobs for mistakes (Validate).
package jobspec

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-project/orch/structs"
)

// ParseConfig says what to parse and with which inputs.
type ParseConfig struct {
	// Path names the file in diagnostics; when Body is nil the file is read.
	Path string
	Body []byte
	// ArgVars are "name=value" pairs from -var flags.
	ArgVars []string
	// VarFiles are paths of HCL (or .json) files assigning variables.
	VarFiles []string
	// VarContent is the contents of one more var file, applied after
	// VarFiles (the HTTP parse endpoint's "Variables"). It is named
	// VarContentName in diagnostics ("variables.hcl" when empty).
	VarContent     []byte
	VarContentName string
	// Envs is the environment in os.Environ() form; ORCH_VAR_<name> and
	// NOMAD_VAR_<name> set variables.
	Envs []string
	// AllowFS enables file(), fileexists() and templatefile(). Leave it off
	// for job files that arrive over the network.
	AllowFS bool
	// DriverSpec returns the schema of a driver's config block; nil (or a
	// nil result) decodes config generically.
	DriverSpec func(driver string) hcldec.Spec

	// skipFieldCheck lets this package's parser tests decode blocks the
	// field-state table refuses, to check the decoding itself.
	skipFieldCheck bool
}

// ParseFile parses a job file from disk the way the CLI does: filesystem
// functions enabled, variables taken from the process environment.
func ParseFile(path string) (*structs.Job, error) {
	return Parse(ParseConfig{Path: path, AllowFS: true, Envs: os.Environ()})
}

// Parse decodes one job file and returns the job with defaults applied
// (see Canonicalize). It does not call Validate. Every problem found is
// returned at once as a *Error.
func Parse(cfg ParseConfig) (*structs.Job, error) {
	src := cfg.Body
	name := cfg.Path
	if name == "" {
		name = "job.hcl"
	}
	if src == nil {
		if cfg.Path == "" {
			return nil, fmt.Errorf("parse job: neither Path nor Body given")
		}
		b, err := os.ReadFile(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("parse job: %w", err)
		}
		src = b
	}
	job, d, diags := parse(cfg, name, src)
	sortDiags(diags)
	if err := wrapDiags(diags); err != nil {
		return nil, err
	}
	canonicalize(job, d.explicit)
	if cfg.skipFieldCheck {
		return job, nil
	}
	if diags := d.refusedFields(job); diags.HasErrors() {
		return nil, &Error{Diags: diags}
	}
	return job, nil
}

// refusedFields reports, at their source positions, the fields of a parsed
// job that the field-state table refuses.
func (d *decoder) refusedFields(job *structs.Job) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, e := range checkFields(job) {
		summary := "Unsupported argument"
		if e.block {
			summary = "Unsupported block"
		}
		rng := hcl.Range{Filename: d.filename}
		for i := len(e.trail) - 1; i >= 0; i-- {
			if r, ok := d.ranges[e.trail[i]]; ok {
				rng = r
				break
			}
		}
		diags = append(diags, diagErr(rng, summary, "%s", e.Error()))
	}
	sortDiags(diags)
	return diags
}

var topSchema = schema(nil, "job:name", "variable:name", "locals", "variables")

func parseSource(p *hclparse.Parser, src []byte, name string) (*hcl.File, hcl.Diagnostics) {
	if isJSON(name, src) {
		return p.ParseJSON(src, name)
	}
	return p.ParseHCL(src, name)
}

func isJSON(name string, src []byte) bool {
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return true
	}
	trimmed := bytes.TrimLeft(src, " \t\r\n\ufeff")
	return len(trimmed) > 0 && trimmed[0] == '{'
}

func parse(cfg ParseConfig, name string, src []byte) (*structs.Job, *decoder, hcl.Diagnostics) {
	p := hclparse.NewParser()
	file, diags := parseSource(p, src, name)
	if diags.HasErrors() {
		return nil, nil, diags
	}
	top, ds := file.Body.Content(topSchema)
	diags = append(diags, ds...)
	if top == nil {
		return nil, nil, diags
	}

	baseDir := ""
	if cfg.Path != "" {
		baseDir = filepath.Dir(cfg.Path)
	}
	funcs := functions(baseDir, cfg.AllowFS)

	vs := &varSet{vars: map[string]*variable{}, funcs: funcs}
	for _, b := range top.Blocks.OfType("variable") {
		vs.declare(b)
	}
	for _, b := range top.Blocks.OfType("variables") {
		vs.declareShort(b)
	}
	vs.applyEnv(cfg.Envs)
	for _, f := range cfg.VarFiles {
		vs.applyVarFile(f, func(b []byte, n string) (*hcl.File, hcl.Diagnostics) { return parseSource(p, b, n) })
	}
	if len(cfg.VarContent) > 0 {
		vn := cfg.VarContentName
		if vn == "" {
			vn = "variables.hcl"
		}
		vs.applyVarSource(cfg.VarContent, vn, func(b []byte, n string) (*hcl.File, hcl.Diagnostics) { return parseSource(p, b, n) })
	}
	vs.applyArgs(cfg.ArgVars)
	varObj := vs.finish()
	diags = append(diags, vs.diags...)

	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": varObj},
		Functions: funcs,
	}
	locals, ds := evalLocals(top.Blocks.OfType("locals"), ctx)
	diags = append(diags, ds...)
	ctx.Variables["local"] = locals

	jobs := top.Blocks.OfType("job")
	switch {
	case len(jobs) == 0:
		r := file.Body.MissingItemRange()
		diags = append(diags, diagErr(r, "Missing job block", "The file must define one job \"name\" { ... } block."))
		return nil, nil, diags
	case len(jobs) > 1:
		for _, b := range jobs[1:] {
			diags = append(diags, diagErr(b.DefRange, "Duplicate job block", "Only one job may be defined per file; the first is at %s.", rangeStr(jobs[0].DefRange)))
		}
	}
	if diags.HasErrors() {
		// Variable or local errors would only cascade into the job body.
		return nil, nil, diags
	}

	d := &decoder{ctx: ctx, driverSpec: cfg.DriverSpec, filename: name}
	d.indexSyntax(file.Body)
	jb := *jobs[0]
	jb.Body = dynblock.Expand(jb.Body, ctx)
	job := d.decodeJob(&jb)
	diags = append(diags, d.diags...)
	if d.explicit == nil {
		d.explicit = map[any]bool{}
	}
	return job, d, diags
}

// declareShort handles the `variables { name = default }` shorthand.
func (vs *varSet) declareShort(b *hcl.Block) {
	as, diags := b.Body.JustAttributes()
	vs.diags = append(vs.diags, diags...)
	for _, a := range sortedAttrs(as) {
		if prev, dup := vs.vars[a.Name]; dup {
			vs.errorf(a.NameRange, "Duplicate variable", "Variable %q was already declared at %s.", a.Name, rangeStr(prev.declRange))
			continue
		}
		v := &variable{name: a.Name, typ: cty.DynamicPseudoType, declRange: a.NameRange}
		val, ds := a.Expr.Value(vs.literalCtx())
		vs.diags = append(vs.diags, ds...)
		if !ds.HasErrors() {
			v.value = val
		}
		vs.vars[a.Name] = v
		vs.order = append(vs.order, a.Name)
	}
}

// sortDiags orders diagnostics by file position so output is stable.
func sortDiags(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
}
