package jobspec

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/orch-project/orch/structs"
)

// constraintShorthands are Nomad's `operator = value` spellings, e.g.
// `regexp = "^linux"` or `distinct_hosts = true`.
var constraintShorthands = []string{
	structs.ConstraintRegex, structs.ConstraintVersion, structs.ConstraintSemver,
	structs.ConstraintSetContains, structs.ConstraintSetContainsAny, "set_contains_all",
	structs.ConstraintDistinctProperty, structs.ConstraintDistinctHosts,
}

var constraintSchema = schema(append([]string{"attribute", "operator", "value"}, constraintShorthands...))

var affinitySchema = schema(append([]string{"attribute", "operator", "value", "weight"},
	structs.ConstraintRegex, structs.ConstraintVersion, structs.ConstraintSemver,
	structs.ConstraintSetContains, structs.ConstraintSetContainsAny, "set_contains_all"))

func (d *decoder) constraints(c *hcl.BodyContent) []*structs.Constraint {
	var out []*structs.Constraint
	for _, b := range c.Blocks.OfType("constraint") {
		if con := d.decodeConstraint(b); con != nil {
			out = append(out, con)
		}
	}
	return out
}

func (d *decoder) decodeConstraint(b *hcl.Block) *structs.Constraint {
	c := d.content(b.Body, constraintSchema)
	a := d.attrs(c)
	con := &structs.Constraint{Operand: structs.ConstraintEqual}
	d.at(con, b.DefRange)
	a.str("attribute", &con.LTarget)
	a.str("operator", &con.Operand)
	a.str("value", &con.RTarget)
	shorthand := ""
	for _, op := range constraintShorthands {
		if !a.has(op) {
			continue
		}
		if shorthand != "" {
			d.errorf(c.Attributes[op].NameRange, "Conflicting constraint operators", "Only one of %q and %q may be set.", shorthand, op)
			continue
		}
		shorthand = op
		if a.has("operator") {
			d.errorf(c.Attributes[op].NameRange, "Conflicting constraint operators", "%q is shorthand for operator = %q and cannot be combined with \"operator\".", op, op)
		}
		switch op {
		case structs.ConstraintDistinctHosts:
			enabled := false
			a.boolean(op, &enabled)
			if !enabled {
				return nil
			}
			con.Operand = op
		case structs.ConstraintDistinctProperty:
			con.Operand = op
			a.str(op, &con.LTarget)
		case "set_contains_all":
			con.Operand = structs.ConstraintSetContains
			a.str(op, &con.RTarget)
		default:
			con.Operand = op
			a.str(op, &con.RTarget)
		}
	}
	return con
}

func (d *decoder) affinities(c *hcl.BodyContent) []*structs.Affinity {
	var out []*structs.Affinity
	for _, b := range c.Blocks.OfType("affinity") {
		bc := d.content(b.Body, affinitySchema)
		a := d.attrs(bc)
		aff := &structs.Affinity{Operand: structs.ConstraintEqual}
		d.at(aff, b.DefRange)
		a.str("attribute", &aff.LTarget)
		a.str("operator", &aff.Operand)
		a.str("value", &aff.RTarget)
		a.int8("weight", &aff.Weight)
		for _, op := range affinitySchema.Attributes[4:] {
			if a.has(op.Name) {
				aff.Operand = op.Name
				if op.Name == "set_contains_all" {
					aff.Operand = structs.ConstraintSetContains
				}
				a.str(op.Name, &aff.RTarget)
			}
		}
		out = append(out, aff)
	}
	return out
}

var spreadSchema = schema([]string{"attribute", "weight"}, "target:value")
var spreadTargetSchema = schema([]string{"percent"})

func (d *decoder) spreads(c *hcl.BodyContent) []*structs.Spread {
	var out []*structs.Spread
	for _, b := range c.Blocks.OfType("spread") {
		bc := d.content(b.Body, spreadSchema)
		a := d.attrs(bc)
		sp := &structs.Spread{}
		d.at(sp, b.DefRange)
		a.str("attribute", &sp.Attribute)
		a.int8("weight", &sp.Weight)
		for _, tb := range bc.Blocks.OfType("target") {
			tc := d.content(tb.Body, spreadTargetSchema)
			t := &structs.SpreadTarget{Value: tb.Labels[0]}
			d.attrs(tc).uint8("percent", &t.Percent)
			sp.SpreadTarget = append(sp.SpreadTarget, t)
		}
		out = append(out, sp)
	}
	return out
}
