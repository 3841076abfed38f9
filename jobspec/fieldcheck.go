package jobspec

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/orch-project/orch/structs"
)

// FieldState says what orch does with one field of the job model. The
// rule (issue 7): a job field either takes effect at runtime, proven by a
// named test, or is refused on every path a job enters by. Nothing is
// parsed, stored and ignored.
type FieldState uint8

const (
	// Works: the scheduler, client or server acts on the field; Tests
	// names the tests that show the effect.
	Works FieldState = iota + 1
	// Refused: a job setting the field (to anything but null, zero or a
	// value that only restates Nomad's default) is refused with Msg.
	Refused
	// Part: a field inside a block; it follows the state of the field
	// that holds the block (refused with it, working with it, proven by
	// its tests). Whoever makes a block work reviews its Part rows and
	// marks the ones they did not implement Refused.
	Part
	// Server: kept by the server (status, indexes, versions, times,
	// parent/dispatch bookkeeping, scheduler-assigned addresses); a value
	// in a submission is overwritten or is bookkeeping the server keeps
	// as Nomad does.
	Server
	// Deprecated: accepted and without effect, exactly as in Nomad,
	// which deprecated the field and ignores it (mbits, iops); refusing
	// it would refuse job files Nomad runs.
	Deprecated
)

func (s FieldState) String() string {
	switch s {
	case Works:
		return "works"
	case Refused:
		return "refused"
	case Part:
		return "part"
	case Server:
		return "server"
	case Deprecated:
		return "deprecated"
	}
	return "unknown"
}

// FieldRow is one row of the field-state table.
type FieldRow struct {
	// HCL is the field's jobspec spelling ("template", "kill_timeout");
	// empty for fields only the JSON API has.
	HCL   string
	State FieldState
	// Tests prove a Works field (test function names, checked to exist).
	Tests []string
	// Msg says why a Refused field is refused.
	Msg string
	// accept lets a value of a Refused field through when it asks for
	// nothing orch lacks: typically Nomad's own default, which
	// nomad/api's Canonicalize writes into every job it sends.
	accept func(v any, job *structs.Job) bool
	// refuse, on a field that is not Refused, names values orch cannot
	// honour (network mode "bridge"); "" means the value is fine. Note
	// says which, for the docs.
	refuse func(v any) string
	// refuseIn is refuse for values whose fate depends on the job
	// (a migrate block only service jobs act on).
	refuseIn func(v any, job *structs.Job) string
	Note     string
	// why, on a Refused field, gives a message depending on the value
	// (a CSI volume versus a host volume); "" falls back to Msg.
	why func(v any) string
	// docsLater: the block's fields are documented where the block's type
	// is reached otherwise (a task-level network is folded into the
	// group's, whose rows describe it).
	docsLater bool
}

func works(hcl string, tests ...string) FieldRow {
	return FieldRow{HCL: hcl, State: Works, Tests: tests}
}
func refused(hcl, msg string) FieldRow { return FieldRow{HCL: hcl, State: Refused, Msg: msg} }
func part(hcl string) FieldRow         { return FieldRow{HCL: hcl, State: Part} }
func server(hcl string) FieldRow       { return FieldRow{HCL: hcl, State: Server} }
func deprecated(hcl string) FieldRow   { return FieldRow{HCL: hcl, State: Deprecated} }

// unless lets values through a Refused row (see FieldRow.accept).
func (r FieldRow) unless(f func(v any, job *structs.Job) bool) FieldRow { r.accept = f; return r }

// refusing refuses particular values of a row (see FieldRow.refuse); note
// names them for the docs.
func (r FieldRow) refusing(note string, f func(v any) string) FieldRow {
	r.refuse, r.Note = f, note
	return r
}

// refusingIn is refusing with the job at hand.
func (r FieldRow) refusingIn(note string, f func(v any, job *structs.Job) string) FieldRow {
	r.refuseIn, r.Note = f, note
	return r
}

// documentedElsewhere sets FieldRow.docsLater.
func (r FieldRow) documentedElsewhere() FieldRow { r.docsLater = true; return r }

// because words a Refused row's message from the value (FieldRow.why).
func (r FieldRow) because(f func(v any) string) FieldRow { r.why = f; return r }

// FieldTable returns the field-state table: one row per field of every
// struct of the job model, keyed "Type.Field" with Go names
// ("Task.Templates"). The returned map must not be modified.
func FieldTable() map[string]FieldRow { return fieldTable }

// checkFields walks a canonicalized job and returns one error per
// refused field it sets. Each error's path names the field as the HCL
// spells it (`group "web" -> task "app" -> template[0]`).
func checkFields(job *structs.Job) []*ValidationError {
	if job == nil {
		return nil
	}
	w := &fieldWalker{job: job}
	w.walkStruct(reflect.ValueOf(job).Elem(), "", nil)
	return w.errs
}

type fieldWalker struct {
	job  *structs.Job
	errs []*ValidationError
}

// fieldInfo is what the walker needs of one struct field, computed once
// per type: its row, its name in paths, and whether it can hold blocks.
type fieldInfo struct {
	row     FieldRow
	name    string
	blocks  bool
	exposed bool
}

var fieldInfos sync.Map // reflect.Type -> []fieldInfo

func infosOf(t reflect.Type) []fieldInfo {
	if v, ok := fieldInfos.Load(t); ok {
		return v.([]fieldInfo)
	}
	out := make([]fieldInfo, t.NumField())
	for i := range out {
		sf := t.Field(i)
		key := t.Name() + "." + sf.Name
		row, ok := fieldTable[key]
		if !ok {
			// The table test keeps this from happening; if it does, a
			// field nobody classified must not slip through.
			row = FieldRow{State: Refused, Msg: fmt.Sprintf("field %s is not supported", key)}
		}
		name := row.HCL
		if name == "" {
			name = jsonName(sf)
		}
		ft := sf.Type
		if ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
			ft = ft.Elem()
		}
		out[i] = fieldInfo{row: row, name: name, blocks: isBlockType(ft), exposed: sf.IsExported()}
	}
	fieldInfos.Store(t, out)
	return out
}

// walkStruct visits the fields of struct v (addressable). trail holds the
// addresses of the enclosing objects, outermost first, for positions.
// Paths and trails are only built where a problem is reported or a block
// descended into, so a job that asks for nothing refused costs one pass.
func (w *fieldWalker) walkStruct(v reflect.Value, path string, trail []any) {
	trail = append(trail[:len(trail):len(trail)], v.Addr().Interface())
	for i, fi := range infosOf(v.Type()) {
		fv := v.Field(i)
		if !fi.exposed || isUnset(fv) {
			continue
		}
		row := fi.row
		if row.State == Refused {
			if row.accept != nil && row.accept(fv.Interface(), w.job) {
				continue
			}
			w.refuseAll(fv, path, fi.name, row, append(trail[:len(trail):len(trail)], fv.Addr().Interface()))
			continue
		}
		msg := ""
		if row.refuse != nil {
			msg = row.refuse(fv.Interface())
		}
		if msg == "" && row.refuseIn != nil {
			msg = row.refuseIn(fv.Interface(), w.job)
		}
		if msg != "" {
			at := fv.Addr().Interface()
			switch {
			case fi.blocks && fv.Kind() == reflect.Pointer:
				at = elemAddr(fv) // the block, where the decoder recorded it
			case fi.blocks && fv.Kind() == reflect.Slice:
				at = elemAddr(fv.Index(0)) // a list of blocks: its first
			}
			w.add(joinPath(path, fi.name), msg, append(trail[:len(trail):len(trail)], at))
			continue
		}
		if fi.blocks {
			w.descend(fv, path, fi.name, append(trail[:len(trail):len(trail)], fv.Addr().Interface()))
		}
	}
}

// refuseAll reports a refused field once, or once per element for lists
// and maps of blocks, so each error points at its own block.
func (w *fieldWalker) refuseAll(fv reflect.Value, path, name string, row FieldRow, trail []any) {
	msg := func(v any) string {
		if row.why != nil {
			if m := row.why(v); m != "" {
				return m
			}
		}
		return row.Msg
	}
	switch {
	case fv.Kind() == reflect.Slice && isBlockType(fv.Type().Elem()):
		for i := 0; i < fv.Len(); i++ {
			e := fv.Index(i)
			if isUnset(e) {
				continue
			}
			w.add(joinPath(path, elemLabel(name, i, e)), msg(e.Interface()), append(trail, elemAddr(e)))
		}
	case fv.Kind() == reflect.Map && isBlockType(fv.Type().Elem()):
		for _, k := range sortedKeys(fv) {
			e := fv.MapIndex(k)
			w.add(joinPath(path, fmt.Sprintf("%s %q", name, k.String())), msg(e.Interface()), append(trail, elemAddr(e)))
		}
	default:
		w.add(joinPath(path, name), msg(fv.Interface()), append(trail, elemAddr(fv)))
	}
}

// descend walks into blocks held by a field that is not refused.
func (w *fieldWalker) descend(fv reflect.Value, path, name string, trail []any) {
	switch fv.Kind() {
	case reflect.Pointer:
		if fv.Elem().Kind() == reflect.Struct && isModelType(fv.Elem().Type()) {
			w.walkStruct(fv.Elem(), joinPath(path, name), trail)
		}
	case reflect.Struct:
		if isModelType(fv.Type()) {
			w.walkStruct(fv, joinPath(path, name), trail)
		}
	case reflect.Slice:
		if !isBlockType(fv.Type().Elem()) {
			return
		}
		for i := 0; i < fv.Len(); i++ {
			e := fv.Index(i)
			if isUnset(e) {
				continue
			}
			if e.Kind() == reflect.Pointer {
				e = e.Elem()
			}
			w.walkStruct(e, joinPath(path, elemLabel(name, i, e)), trail)
		}
	case reflect.Map:
		if !isBlockType(fv.Type().Elem()) {
			return
		}
		for _, k := range sortedKeys(fv) {
			e := fv.MapIndex(k)
			if isUnset(e) || e.Kind() != reflect.Pointer {
				continue
			}
			w.walkStruct(e.Elem(), joinPath(path, fmt.Sprintf("%s %q", name, k.String())), trail)
		}
	}
}

func (w *fieldWalker) add(path, msg string, trail []any) {
	block := false
	if last := trail[len(trail)-1]; last != nil {
		t := reflect.TypeOf(last)
		block = t.Kind() == reflect.Pointer && isBlockType(t)
	}
	// Callers build trails with append on shared prefixes: keep a copy.
	trail = append([]any(nil), trail...)
	w.errs = append(w.errs, &ValidationError{Path: path, Msg: msg, trail: trail, block: block})
}

// elemLabel names a list element the way the HCL labels it: `task "web"`
// for blocks with a name, `template[0]` otherwise.
func elemLabel(name string, i int, e reflect.Value) string {
	if e.Kind() == reflect.Pointer {
		e = e.Elem()
	}
	if e.Kind() == reflect.Struct {
		if n := e.FieldByName("Name"); n.IsValid() && n.Kind() == reflect.String && n.String() != "" {
			return fmt.Sprintf("%s %q", name, n.String())
		}
		if n := e.FieldByName("Label"); n.IsValid() && n.Kind() == reflect.String && n.String() != "" {
			return fmt.Sprintf("%s %q", name, n.String())
		}
	}
	return fmt.Sprintf("%s[%d]", name, i)
}

// elemAddr is the identity the HCL decoder recorded a position for: the
// pointer itself for pointer elements, else the element's address.
func elemAddr(e reflect.Value) any {
	if e.Kind() == reflect.Pointer {
		return e.Interface()
	}
	if e.CanAddr() {
		return e.Addr().Interface()
	}
	return nil
}

// isUnset reports null, absent and zero values, which are never refused.
func isUnset(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}

var modelPkg = reflect.TypeOf(structs.Job{}).PkgPath()

// isModelType reports a struct type of the job model (package structs).
func isModelType(t reflect.Type) bool { return t.Kind() == reflect.Struct && t.PkgPath() == modelPkg }

// isBlockType reports an element type that is a block of the model
// (a struct or pointer to one), as opposed to a plain value.
func isBlockType(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return isModelType(t) || t == reflect.TypeOf(structs.Opaque{})
}

func sortedKeys(m reflect.Value) []reflect.Value {
	keys := m.MapKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

func jsonName(f reflect.StructField) string {
	n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if n == "" || n == "-" {
		return f.Name
	}
	return n
}
