package taskenv

import "strings"

// lookup resolves one ${name}.
func (e *Env) lookup(name string) (string, bool) {
	if v, ok := e.node[name]; ok {
		return v, true
	}
	if strings.HasPrefix(name, "env.") {
		// Nomad accepts ${env.X} for task variables in some places.
		name = name[len("env."):]
	}
	v, ok := e.vars[name]
	return v, ok
}

// ReplaceString expands ${name} references; unknown names are left as
// written, so a literal "${x}" meant for a shell survives.
func (e *Env) ReplaceString(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		name := strings.TrimSpace(s[i+2 : i+2+j])
		b.WriteString(s[:i])
		if v, ok := e.lookup(name); ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[i : i+3+j])
		}
		s = s[i+3+j:]
	}
}

// ReplaceStrings expands every element.
func (e *Env) ReplaceStrings(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = e.ReplaceString(s)
	}
	return out
}

// ReplaceConfig returns a deep copy of a driver config with every string
// (map keys excepted) expanded.
func (e *Env) ReplaceConfig(cfg map[string]any) map[string]any {
	if cfg == nil {
		return nil
	}
	out, _ := e.replaceValue(cfg).(map[string]any)
	return out
}

func (e *Env) replaceValue(v any) any {
	switch x := v.(type) {
	case string:
		return e.ReplaceString(x)
	case []string:
		return e.ReplaceStrings(x)
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = e.replaceValue(el)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			out[k] = e.replaceValue(el)
		}
		return out
	case []map[string]any:
		out := make([]map[string]any, len(x))
		for i, el := range x {
			out[i], _ = e.replaceValue(el).(map[string]any)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, el := range x {
			out[k] = e.ReplaceString(el)
		}
		return out
	default:
		return v
	}
}
