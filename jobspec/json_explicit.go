package jobspec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/orch-project/orch/structs"
)

// CanonicalizeJSON applies defaults to a job decoded from Nomad API JSON
// (raw is the job object itself, not the {"Job": ...} envelope). It reads
// raw to tell a field that is null or absent — which means "use the
// default", as in Nomad — from one explicitly set to zero, which is kept.
// The defaults are then applied exactly as for HCL, which records the
// same distinction while decoding.
func CanonicalizeJSON(job *structs.Job, raw []byte) {
	canonicalizeWith(job, canon{explicit: jsonExplicit(raw, job), fromJSON: true})
}

// jsonExplicit returns the addresses of every field of job that raw sets
// to a non-null value.
func jsonExplicit(raw []byte, job *structs.Job) map[any]bool {
	explicit := map[any]bool{}
	if job == nil {
		return explicit
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return explicit
	}
	markJSON(reflect.ValueOf(job).Elem(), doc, explicit)
	return explicit
}

// markJSON walks the struct v alongside the JSON object doc.
func markJSON(v reflect.Value, doc any, explicit map[any]bool) {
	obj, ok := doc.(map[string]any)
	if !ok || v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		val, ok := lookupFold(obj, jsonName(sf))
		if !ok || val == nil {
			continue
		}
		fv := v.Field(i)
		explicit[fv.Addr().Interface()] = true
		markChild(fv, val, explicit)
	}
	// HCL treats a reschedule policy that sets attempts or interval as a
	// limited one; JSON gets the same reading.
	if rp, ok := v.Addr().Interface().(*structs.ReschedulePolicy); ok {
		if explicit[&rp.Attempts] || explicit[&rp.Interval] {
			explicit[&rp.Unlimited] = true
		}
	}
}

func markChild(fv reflect.Value, val any, explicit map[any]bool) {
	switch fv.Kind() {
	case reflect.Pointer:
		if !fv.IsNil() && fv.Elem().Kind() == reflect.Struct {
			markJSON(fv.Elem(), val, explicit)
		}
	case reflect.Struct:
		markJSON(fv, val, explicit)
	case reflect.Slice:
		list, ok := val.([]any)
		if !ok {
			return
		}
		for j := 0; j < fv.Len() && j < len(list); j++ {
			markChild(fv.Index(j), list[j], explicit)
		}
	case reflect.Map:
		m, ok := val.(map[string]any)
		if !ok || fv.Type().Key().Kind() != reflect.String {
			return
		}
		for _, k := range fv.MapKeys() {
			e := fv.MapIndex(k)
			if e.Kind() == reflect.Pointer && !e.IsNil() {
				if sub, ok := lookupFold(m, k.String()); ok {
					markChild(e, sub, explicit)
				}
			}
		}
	}
}

// lookupFold finds key in obj as encoding/json does: an exact match, else
// a case-insensitive one.
func lookupFold(obj map[string]any, key string) (any, bool) {
	if v, ok := obj[key]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}
