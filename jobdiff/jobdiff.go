// Package jobdiff computes the difference between two versions of a job in
// Nomad's JobDiff shape: primitive fields as FieldDiffs (maps flattened to
// "Name[key]"), nested blocks as ObjectDiffs, groups and tasks matched by
// name. It walks the job model by reflection, so a field added to package
// structs shows up in diffs without code here.
package jobdiff

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/structs"
)

// Fields the server maintains, which are never part of a spec diff.
var (
	skipJob   = set("ID", "TaskGroups", "Status", "StatusDescription", "Stable", "Version", "SubmitTime", "CreateIndex", "ModifyIndex", "JobModifyIndex")
	skipGroup = set("Name", "Tasks")
	skipTask  = set("Name")
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Jobs diffs old against new; either may be nil (a new or removed job).
// With contextual, edited objects also list their unchanged fields (type
// None), as `job plan -verbose` shows them.
func Jobs(old, new *structs.Job, contextual bool) *structs.JobDiff {
	d := &structs.JobDiff{Type: structs.DiffTypeNone}
	var ov, nv reflect.Value
	switch {
	case old == nil && new == nil:
		return d
	case old == nil:
		d.Type, d.ID = structs.DiffTypeAdded, new.ID
		nv = reflect.ValueOf(*new)
	case new == nil:
		d.Type, d.ID = structs.DiffTypeDeleted, old.ID
		ov = reflect.ValueOf(*old)
	default:
		d.ID = new.ID
		ov, nv = reflect.ValueOf(*old), reflect.ValueOf(*new)
	}
	w := walker{contextual: contextual}
	d.Fields, d.Objects = w.structFields(ov, nv, skipJob)
	var oldGroups, newGroups []*structs.TaskGroup
	if old != nil {
		oldGroups = old.TaskGroups
	}
	if new != nil {
		newGroups = new.TaskGroups
	}
	d.TaskGroups = groupDiffs(oldGroups, newGroups, contextual)
	if d.Type == structs.DiffTypeNone && (changed(d.Fields, d.Objects) || slices.ContainsFunc(d.TaskGroups, func(g *structs.TaskGroupDiff) bool {
		return g.Type != structs.DiffTypeNone
	})) {
		d.Type = structs.DiffTypeEdited
	}
	return d
}

func groupDiffs(old, new []*structs.TaskGroup, contextual bool) []*structs.TaskGroupDiff {
	byName := map[string][2]*structs.TaskGroup{}
	var names []string
	for i, list := range [][]*structs.TaskGroup{old, new} {
		for _, tg := range list {
			if tg == nil {
				continue
			}
			pair, seen := byName[tg.Name]
			if !seen {
				names = append(names, tg.Name)
			}
			pair[i] = tg
			byName[tg.Name] = pair
		}
	}
	sort.Strings(names)
	out := make([]*structs.TaskGroupDiff, 0, len(names))
	for _, name := range names {
		pair := byName[name]
		out = append(out, groupDiff(pair[0], pair[1], contextual))
	}
	return out
}

func groupDiff(old, new *structs.TaskGroup, contextual bool) *structs.TaskGroupDiff {
	d := &structs.TaskGroupDiff{Type: kind(old == nil, new == nil)}
	var ov, nv reflect.Value
	var oldTasks, newTasks []*structs.Task
	if old != nil {
		d.Name, ov, oldTasks = old.Name, reflect.ValueOf(*old), old.Tasks
	}
	if new != nil {
		d.Name, nv, newTasks = new.Name, reflect.ValueOf(*new), new.Tasks
	}
	w := walker{contextual: contextual}
	d.Fields, d.Objects = w.structFields(ov, nv, skipGroup)
	d.Tasks = taskDiffs(oldTasks, newTasks, contextual)
	if d.Type == structs.DiffTypeEdited && !changed(d.Fields, d.Objects) &&
		!slices.ContainsFunc(d.Tasks, func(t *structs.TaskDiff) bool { return t.Type != structs.DiffTypeNone }) {
		d.Type = structs.DiffTypeNone
	}
	return d
}

func taskDiffs(old, new []*structs.Task, contextual bool) []*structs.TaskDiff {
	byName := map[string][2]*structs.Task{}
	var names []string
	for i, list := range [][]*structs.Task{old, new} {
		for _, t := range list {
			if t == nil {
				continue
			}
			pair, seen := byName[t.Name]
			if !seen {
				names = append(names, t.Name)
			}
			pair[i] = t
			byName[t.Name] = pair
		}
	}
	sort.Strings(names)
	out := make([]*structs.TaskDiff, 0, len(names))
	for _, name := range names {
		pair := byName[name]
		d := &structs.TaskDiff{Type: kind(pair[0] == nil, pair[1] == nil), Name: name}
		var ov, nv reflect.Value
		if pair[0] != nil {
			ov = reflect.ValueOf(*pair[0])
		}
		if pair[1] != nil {
			nv = reflect.ValueOf(*pair[1])
		}
		w := walker{contextual: contextual}
		d.Fields, d.Objects = w.structFields(ov, nv, skipTask)
		if d.Type == structs.DiffTypeEdited && !changed(d.Fields, d.Objects) {
			d.Type = structs.DiffTypeNone
		}
		out = append(out, d)
	}
	return out
}

// kind is the diff type of a pair where either side may be missing; a
// pair present on both sides starts as Edited and is downgraded to None
// when nothing differs.
func kind(oldMissing, newMissing bool) string {
	switch {
	case oldMissing:
		return structs.DiffTypeAdded
	case newMissing:
		return structs.DiffTypeDeleted
	}
	return structs.DiffTypeEdited
}

func changed(fields []*structs.FieldDiff, objects []*structs.ObjectDiff) bool {
	for _, f := range fields {
		if f.Type != structs.DiffTypeNone {
			return true
		}
	}
	for _, o := range objects {
		if o.Type != structs.DiffTypeNone {
			return true
		}
	}
	return false
}

// walker diffs values by reflection.
type walker struct{ contextual bool }

// structFields diffs two struct values of one type (either may be the
// zero Value: absent) field by field.
func (w walker) structFields(old, new reflect.Value, skip map[string]bool) ([]*structs.FieldDiff, []*structs.ObjectDiff) {
	var t reflect.Type
	if old.IsValid() {
		t = old.Type()
	} else {
		t = new.Type()
	}
	var fields []*structs.FieldDiff
	var objects []*structs.ObjectDiff
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() || skip[sf.Name] {
			continue
		}
		var of, nf reflect.Value
		if old.IsValid() {
			of = old.Field(i)
		}
		if new.IsValid() {
			nf = new.Field(i)
		}
		f, o := w.value(sf.Name, sf.Type, of, nf)
		fields = append(fields, f...)
		objects = append(objects, o...)
	}
	sortDiffs(fields, objects)
	return fields, objects
}

// value diffs one field of type t named name.
func (w walker) value(name string, t reflect.Type, old, new reflect.Value) ([]*structs.FieldDiff, []*structs.ObjectDiff) {
	switch {
	case isScalar(t):
		return w.scalar(name, old, new), nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && isScalar(t.Elem()):
		return w.flatMap(name, old, new), nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.Interface:
		return nil, w.object(name, flattenAny(old), flattenAny(new))
	case t.Kind() == reflect.Slice && isScalar(t.Elem()):
		return nil, w.scalarSet(name, old, new)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && t.Elem() != timeType:
		return nil, w.structObject(singular(name), deref(old), deref(new))
	case t.Kind() == reflect.Struct && t != timeType:
		return nil, w.structObject(singular(name), old, new)
	case t.Kind() == reflect.Slice && elemStruct(t.Elem()) != nil:
		return nil, w.structList(singular(name), old, new)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && elemStruct(t.Elem()) != nil:
		return nil, w.structMap(singular(name), old, new)
	}
	// Anything else (byte slices, times) is compared as its JSON.
	return w.fieldPair(name, jsonText(old), jsonText(new)), nil
}

var timeType = reflect.TypeOf(time.Time{})

func isScalar(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func elemStruct(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && t != timeType {
		return t
	}
	return nil
}

func deref(v reflect.Value) reflect.Value {
	if !v.IsValid() || v.IsNil() {
		return reflect.Value{}
	}
	return v.Elem()
}

// text renders a scalar the way Nomad's diff does: numbers (durations as
// nanoseconds) in decimal, booleans as true/false; a nil pointer is "".
func text(v reflect.Value) (string, bool) {
	if !v.IsValid() {
		return "", false
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "", false
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), true
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), true
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64), true
	}
	return fmt.Sprint(v.Interface()), true
}

func jsonText(v reflect.Value) string {
	if !v.IsValid() || (v.Kind() == reflect.Slice || v.Kind() == reflect.Pointer || v.Kind() == reflect.Map) && v.IsNil() {
		return ""
	}
	b, _ := json.Marshal(v.Interface())
	return string(b)
}

func (w walker) scalar(name string, old, new reflect.Value) []*structs.FieldDiff {
	o, _ := text(old)
	n, _ := text(new)
	if !old.IsValid() {
		return w.fieldPairTyped(name, "", n, structs.DiffTypeAdded)
	}
	if !new.IsValid() {
		return w.fieldPairTyped(name, o, "", structs.DiffTypeDeleted)
	}
	return w.fieldPair(name, o, n)
}

// fieldPair diffs two rendered values of a field present on both sides.
func (w walker) fieldPair(name, old, new string) []*structs.FieldDiff {
	switch {
	case old == new:
		if !w.contextual {
			return nil
		}
		return []*structs.FieldDiff{{Type: structs.DiffTypeNone, Name: name, Old: old, New: new}}
	case old == "":
		return w.fieldPairTyped(name, old, new, structs.DiffTypeAdded)
	case new == "":
		return w.fieldPairTyped(name, old, new, structs.DiffTypeDeleted)
	}
	return []*structs.FieldDiff{{Type: structs.DiffTypeEdited, Name: name, Old: old, New: new}}
}

func (w walker) fieldPairTyped(name, old, new, typ string) []*structs.FieldDiff {
	if old == new && typ != structs.DiffTypeNone {
		// Absent on one side and empty on the other: nothing to show.
		if !w.contextual || old == "" {
			return nil
		}
		typ = structs.DiffTypeNone
	}
	return []*structs.FieldDiff{{Type: typ, Name: name, Old: old, New: new}}
}

// flatMap diffs a map of scalars as fields "name[key]".
func (w walker) flatMap(name string, old, new reflect.Value) []*structs.FieldDiff {
	o, n := scalarMap(old), scalarMap(new)
	var out []*structs.FieldDiff
	for _, k := range unionKeys(o, n) {
		ov, inOld := o[k]
		nv, inNew := n[k]
		key := name + "[" + k + "]"
		switch {
		case !inOld:
			out = append(out, &structs.FieldDiff{Type: structs.DiffTypeAdded, Name: key, New: nv})
		case !inNew:
			out = append(out, &structs.FieldDiff{Type: structs.DiffTypeDeleted, Name: key, Old: ov})
		default:
			out = append(out, w.fieldPair(key, ov, nv)...)
		}
	}
	return out
}

func scalarMap(v reflect.Value) map[string]string {
	if !v.IsValid() || v.IsNil() {
		return nil
	}
	out := make(map[string]string, v.Len())
	it := v.MapRange()
	for it.Next() {
		s, _ := text(it.Value())
		out[it.Key().String()] = s
	}
	return out
}

func unionKeys(a, b map[string]string) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, dup := a[k]; !dup {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// flattenAny flattens free-form config (a driver's config block) into
// "key", "key[0]", "key[0][sub]" entries.
func flattenAny(v reflect.Value) map[string]string {
	if !v.IsValid() || v.IsNil() {
		return nil
	}
	out := map[string]string{}
	var walk func(prefix string, x any)
	walk = func(prefix string, x any) {
		switch t := x.(type) {
		case map[string]any:
			for k, e := range t {
				key := k
				if prefix != "" {
					key = prefix + "[" + k + "]"
				}
				walk(key, e)
			}
		case []any:
			for i, e := range t {
				walk(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		case []map[string]any:
			for i, e := range t {
				walk(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		case nil:
			out[prefix] = ""
		case string:
			out[prefix] = t
		case float64:
			out[prefix] = strconv.FormatFloat(t, 'g', -1, 64)
		default:
			out[prefix] = fmt.Sprint(t)
		}
	}
	walk("", v.Interface())
	return out
}

// object diffs two flattened maps as one object named name.
func (w walker) object(name string, old, new map[string]string) []*structs.ObjectDiff {
	if old == nil && new == nil {
		return nil
	}
	o := &structs.ObjectDiff{Name: name, Type: kind(old == nil, new == nil)}
	for _, k := range unionKeys(old, new) {
		ov, inOld := old[k]
		nv, inNew := new[k]
		switch {
		case !inOld:
			o.Fields = append(o.Fields, &structs.FieldDiff{Type: structs.DiffTypeAdded, Name: k, New: nv})
		case !inNew:
			o.Fields = append(o.Fields, &structs.FieldDiff{Type: structs.DiffTypeDeleted, Name: k, Old: ov})
		default:
			o.Fields = append(o.Fields, w.fieldPair(k, ov, nv)...)
		}
	}
	return w.finish(o)
}

// finish settles an object's type from its contents and drops unchanged
// detail unless contextual.
func (w walker) finish(o *structs.ObjectDiff) []*structs.ObjectDiff {
	if o.Type == structs.DiffTypeEdited && !changed(o.Fields, o.Objects) {
		if !w.contextual {
			return nil
		}
		o.Type = structs.DiffTypeNone
	}
	if !w.contextual {
		o.Fields = slices.DeleteFunc(o.Fields, func(f *structs.FieldDiff) bool { return f.Type == structs.DiffTypeNone })
	}
	sortDiffs(o.Fields, o.Objects)
	return []*structs.ObjectDiff{o}
}

// scalarSet diffs a list of scalars as a set (Datacenters, tags).
func (w walker) scalarSet(name string, old, new reflect.Value) []*structs.ObjectDiff {
	if (!old.IsValid() || old.Len() == 0) && (!new.IsValid() || new.Len() == 0) {
		return nil
	}
	count := func(v reflect.Value) map[string]int {
		m := map[string]int{}
		if v.IsValid() {
			for i := 0; i < v.Len(); i++ {
				s, _ := text(v.Index(i))
				m[s]++
			}
		}
		return m
	}
	oc, nc := count(old), count(new)
	o := &structs.ObjectDiff{Name: name, Type: kind(!old.IsValid() || old.Len() == 0, !new.IsValid() || new.Len() == 0)}
	keys := map[string]string{}
	for k := range oc {
		keys[k] = k
	}
	for k := range nc {
		keys[k] = k
	}
	for _, k := range unionKeys(keys, nil) {
		for i := 0; i < max(oc[k], nc[k]); i++ {
			switch {
			case i >= oc[k]:
				o.Fields = append(o.Fields, &structs.FieldDiff{Type: structs.DiffTypeAdded, Name: name, New: k})
			case i >= nc[k]:
				o.Fields = append(o.Fields, &structs.FieldDiff{Type: structs.DiffTypeDeleted, Name: name, Old: k})
			default:
				o.Fields = append(o.Fields, &structs.FieldDiff{Type: structs.DiffTypeNone, Name: name, Old: k, New: k})
			}
		}
	}
	return w.finish(o)
}

// structObject diffs a nested block.
func (w walker) structObject(name string, old, new reflect.Value) []*structs.ObjectDiff {
	if !old.IsValid() && !new.IsValid() {
		return nil
	}
	o := &structs.ObjectDiff{Name: name, Type: kind(!old.IsValid(), !new.IsValid())}
	o.Fields, o.Objects = w.structFields(old, new, nil)
	return w.finish(o)
}

// structList diffs a list of blocks: matched by their Name (or Label)
// when they have one, else as a set of values.
func (w walker) structList(name string, old, new reflect.Value) []*structs.ObjectDiff {
	type item struct{ old, new reflect.Value }
	items := map[string]*item{}
	var order []string
	add := func(v reflect.Value, isNew bool) {
		if !v.IsValid() {
			return
		}
		for i := 0; i < v.Len(); i++ {
			e := v.Index(i)
			if e.Kind() == reflect.Pointer {
				if e.IsNil() {
					continue
				}
				e = e.Elem()
			}
			key := identity(e)
			it := items[key]
			if it == nil || (isNew && it.new.IsValid()) || (!isNew && it.old.IsValid()) {
				if it != nil {
					key = fmt.Sprintf("%s#%d", key, i)
				}
				it = &item{}
				items[key] = it
				order = append(order, key)
			}
			if isNew {
				it.new = e
			} else {
				it.old = e
			}
		}
	}
	add(old, false)
	add(new, true)
	sort.Strings(order)
	var out []*structs.ObjectDiff
	for _, k := range order {
		out = append(out, w.structObject(name, items[k].old, items[k].new)...)
	}
	return out
}

// identity keys a block in a list: its Name or Label, else its whole value.
func identity(v reflect.Value) string {
	for _, f := range []string{"Name", "Label"} {
		if fv := v.FieldByName(f); fv.IsValid() && fv.Kind() == reflect.String && fv.String() != "" {
			return f + "=" + fv.String()
		}
	}
	b, _ := json.Marshal(v.Interface())
	return string(b)
}

// structMap diffs a map of blocks (a group's volumes) by key.
func (w walker) structMap(name string, old, new reflect.Value) []*structs.ObjectDiff {
	keys := map[string]string{}
	for _, v := range []reflect.Value{old, new} {
		if v.IsValid() && !v.IsNil() {
			for _, k := range v.MapKeys() {
				keys[k.String()] = k.String()
			}
		}
	}
	var out []*structs.ObjectDiff
	for _, k := range unionKeys(keys, nil) {
		get := func(v reflect.Value) reflect.Value {
			if !v.IsValid() || v.IsNil() {
				return reflect.Value{}
			}
			e := v.MapIndex(reflect.ValueOf(k))
			if e.IsValid() && e.Kind() == reflect.Pointer {
				return deref(e)
			}
			return e
		}
		out = append(out, w.structObject(name, get(old), get(new))...)
	}
	return out
}

// singular names an object after its field: Constraints -> Constraint.
func singular(name string) string {
	switch name {
	case "ReservedPorts":
		return "Static Port"
	case "DynamicPorts":
		return "Dynamic Port"
	case "RestartPolicy", "ReschedulePolicy", "Update", "Migrate", "EphemeralDisk", "Periodic",
		"ParameterizedJob", "LogConfig", "Resources", "Lifecycle", "DispatchPayload", "Reschedule":
		return name
	}
	switch {
	case strings.HasSuffix(name, "ies"):
		return strings.TrimSuffix(name, "ies") + "y"
	case strings.HasSuffix(name, "s") && !strings.HasSuffix(name, "ss"):
		return strings.TrimSuffix(name, "s")
	}
	return name
}

func sortDiffs(fields []*structs.FieldDiff, objects []*structs.ObjectDiff) {
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
	sort.SliceStable(objects, func(i, j int) bool { return objects[i].Name < objects[j].Name })
}
