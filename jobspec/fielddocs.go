package jobspec

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/orch-project/orch/structs"
)

// docRow is one field of the table with where it first appears in a job.
type docRow struct {
	key   string // "Task.Templates"
	where string // "job > group > task > template"
	api   string // "TaskGroups[].Tasks[].Templates"
	row   FieldRow
}

// docRows walks the model from structs.Job depth-first, in field order, so
// the generated page reads like a job file. Blocks below refused fields
// (and rows marked docsLater) are listed last, each type once, where
// nothing working reaches them.
func docRows() []docRow {
	var out []docRow
	seen := map[reflect.Type]bool{}
	type pending struct {
		t          reflect.Type
		where, api string
	}
	var later []pending
	var walk func(t reflect.Type, where, api string)
	walk = func(t reflect.Type, where, api string) {
		if seen[t] {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			key := t.Name() + "." + f.Name
			row := fieldTable[key]
			name := row.HCL
			if name == "" {
				name = "(API only)"
			}
			ft, suffix := f.Type, ""
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
				if ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
					suffix = "[]"
				}
				ft = ft.Elem()
			}
			r := docRow{key: key, where: where + " > " + name, api: strings.TrimPrefix(api+"."+jsonName(f), "."), row: row}
			out = append(out, r)
			if !isModelType(ft) {
				continue
			}
			if row.State == Refused || row.docsLater {
				later = append(later, pending{ft, r.where, r.api + suffix})
				continue
			}
			walk(ft, r.where, r.api+suffix)
		}
	}
	walk(reflect.TypeOf(structs.Job{}), "job", "")
	for len(later) > 0 {
		p := later[0]
		later = later[1:]
		walk(p.t, p.where, p.api)
	}
	return out
}

// FieldDocs renders docs/job-fields.md from the field-state table.
func FieldDocs() string {
	var b strings.Builder
	b.WriteString(`# Job fields: what works and what is refused

Generated from the field-state table in jobspec/fields.go by
` + "`go test ./jobspec -run TestFieldDocs -update`" + `; do not edit by hand.

Every field of a job is in one of these states:

- **works**: the scheduler, client or server acts on it; the tests named
  prove the effect at runtime.
- **refused**: a job that sets it (to anything but null, zero or a value
  that only restates Nomad's default) is refused: ` + "`orch job validate|run`" + `
  print file:line:col, the HTTP API answers 400 naming the field path.
- **part**: a field inside a block; it works or is refused with its block.
- **server**: kept by the server (status, indexes, versions, times,
  scheduler-assigned addresses, parent and dispatch bookkeeping).
- **deprecated**: accepted without effect, as Nomad accepts and ignores it.

| where (HCL) | API field | state | proof or reason |
|---|---|---|---|
`)
	for _, r := range docRows() {
		detail := ""
		switch r.row.State {
		case Works:
			detail = strings.Join(r.row.Tests, ", ")
			if r.row.Note != "" {
				detail += "; " + r.row.Note
			}
		case Refused:
			detail = r.row.Msg
		case Deprecated:
			detail = "ignored, as in Nomad"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", r.where, r.api, r.row.State, detail)
	}
	return b.String()
}

// FieldSummary is the README's list of job-file blocks: the arguments
// and blocks that work, by block, and those refused, with why.
// TestFieldDocs checks the README carries it verbatim.
func FieldSummary() string {
	var blocks []string
	worksIn := map[string][]string{}
	refusedBy := map[string][]string{}
	var msgs []string
	for _, r := range docRows() {
		if r.row.HCL == "" {
			continue
		}
		parent, name := r.where[:strings.LastIndex(r.where, " > ")], r.row.HCL
		switch r.row.State {
		case Works:
			if _, ok := worksIn[parent]; !ok {
				blocks = append(blocks, parent)
			}
			if r.row.Note != "" {
				name += " (" + r.row.Note + ")"
			}
			if !contains(worksIn[parent], name) {
				worksIn[parent] = append(worksIn[parent], name)
			}
		case Refused:
			if _, ok := refusedBy[r.row.Msg]; !ok {
				msgs = append(msgs, r.row.Msg)
			}
			if !contains(refusedBy[r.row.Msg], r.where) {
				refusedBy[r.row.Msg] = append(refusedBy[r.row.Msg], r.where)
			}
		}
	}
	var b strings.Builder
	b.WriteString("<!-- job-fields:begin (generated from jobspec/fields.go; TestFieldDocs checks it) -->\n")
	b.WriteString("What works, by block:\n\n")
	for _, blk := range blocks {
		fmt.Fprintf(&b, "- `%s`: %s\n", blk, strings.Join(worksIn[blk], ", "))
	}
	b.WriteString("\nWhat is refused, and why:\n\n")
	for _, m := range msgs {
		fmt.Fprintf(&b, "- `%s`: %s\n", strings.Join(refusedBy[m], "`, `"), m)
	}
	b.WriteString("<!-- job-fields:end -->\n")
	return b.String()
}
