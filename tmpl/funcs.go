package tmpl

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"
	socktmpl "github.com/hashicorp/go-sockaddr/template"
	yaml "go.yaml.in/yaml/v3"
)

// unavailable are functions of consul-template that need systems orch does
// not run (Consul, Vault) or that Nomad denies to templates. A template
// using one is refused when the job is submitted, with the reason.
var unavailable = map[string]string{
	"key": msgConsul, "keyExists": msgConsul, "keyOrDefault": msgConsul, "ls": msgConsul, "safeLs": msgConsul,
	"tree": msgConsul, "safeTree": msgConsul, "service": msgConsul, "services": msgConsul, "connect": msgConsul,
	"caRoots": msgConsul, "caLeaf": msgConsul, "datacenters": msgConsul, "node": msgConsul, "nodes": msgConsul,
	"partitions": msgConsul, "peerings": msgConsul, "exportedServices": msgConsul, "byKey": msgConsul,
	"explode": msgConsul, "explodeMap": msgConsul,
	"secret": msgVault, "secrets": msgVault, "pkiCert": msgVault,
	"plugin":      "the plugin function is not allowed in templates (it runs arbitrary programs on the client)",
	"writeToFile": "the writeToFile function is not allowed in templates (it writes outside the destination)",
}

const (
	msgConsul = "Consul is not available: orch does not run Consul (use nomadService, nomadVar)"
	msgVault  = "Vault is not available: orch does not run Vault (use nomadVar)"
)

// staticFuncs are the helpers that need nothing from the task or the
// cluster: consul-template's helper set and every sprig function under
// its sprig_ name.
func staticFuncs() template.FuncMap {
	fm := template.FuncMap{
		"base64Decode":          base64Decode(base64.StdEncoding),
		"base64Encode":          func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"base64URLDecode":       base64Decode(base64.URLEncoding),
		"base64URLEncode":       func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) },
		"byTag":                 byTag,
		"contains":              strings.Contains,
		"containsAll":           containsAll,
		"containsAny":           containsAny,
		"containsNone":          containsNone,
		"containsNotAll":        containsNotAll,
		"in":                    in,
		"indent":                indent,
		"join":                  func(sep string, a []string) string { return strings.Join(a, sep) },
		"loop":                  loop,
		"md5sum":                func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }, // #nosec G401 -- a checksum, as consul-template offers
		"sha256Hex":             func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
		"parseBool":             parseBool,
		"parseFloat":            parseFloat,
		"parseInt":              parseInt,
		"parseUint":             parseUint,
		"parseJSON":             parseJSON,
		"parseYAML":             parseYAML,
		"regexMatch":            regexMatch,
		"regexReplaceAll":       regexReplaceAll,
		"replaceAll":            func(from, to, s string) string { return strings.ReplaceAll(s, from, to) },
		"split":                 func(sep, s string) []string { return splitNonEmpty(s, sep) },
		"splitToMap":            splitToMap,
		"timestamp":             timestamp,
		"toJSON":                toJSON(false, true),
		"toJSONPretty":          toJSON(true, true),
		"toUnescapedJSON":       toJSON(false, false),
		"toUnescapedJSONPretty": toJSON(true, false),
		"toLower":               strings.ToLower,
		"toUpper":               strings.ToUpper,
		"toTitle":               toTitle,
		"toYAML":                toYAML,
		"trimSpace":             strings.TrimSpace,
		"sockaddr":              sockaddr,
		"add":                   arith("add"),
		"subtract":              arith("subtract"),
		"multiply":              arith("multiply"),
		"divide":                arith("divide"),
		"modulo":                arith("modulo"),
		"minimum":               arith("minimum"),
		"maximum":               arith("maximum"),
	}
	for name, fn := range sprig.TxtFuncMap() {
		fm["sprig_"+name] = fn
	}
	return fm
}

func base64Decode(enc *base64.Encoding) func(string) (string, error) {
	return func(s string) (string, error) {
		b, err := enc.DecodeString(s)
		if err != nil {
			return "", fmt.Errorf("base64 decode: %w", err)
		}
		return string(b), nil
	}
}

func containsAll(v []string, in any) bool { return countIn(v, in) == len(v) }
func containsAny(v []string, in any) bool { return countIn(v, in) > 0 }
func containsNone(v []string, in any) bool {
	return countIn(v, in) == 0
}
func containsNotAll(v []string, in any) bool { return countIn(v, in) < len(v) }

func countIn(vals []string, list any) int {
	n := 0
	for _, v := range vals {
		if ok, _ := in(list, v); ok {
			n++
		}
	}
	return n
}

// in reports whether v is an element of list (a slice or array).
func in(list any, v any) (bool, error) {
	lv := reflect.ValueOf(list)
	switch lv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := 0; i < lv.Len(); i++ {
			if reflect.DeepEqual(lv.Index(i).Interface(), v) {
				return true, nil
			}
		}
		return false, nil
	case reflect.String:
		s, ok := v.(string)
		return ok && strings.Contains(lv.String(), s), nil
	}
	return false, fmt.Errorf("in: cannot search a %s", lv.Kind())
}

func indent(spaces int, s string) (string, error) {
	if spaces < 0 {
		return "", errors.New("indent: spaces must not be negative")
	}
	pad := strings.Repeat(" ", spaces)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n"), nil
}

// maxLoop bounds loop: a template must not make the client allocate
// without limit.
const maxLoop = 1 << 20

// loop is consul-template's loop: loop N, or loop START STOP.
func loop(args ...any) ([]int, error) {
	var start, stop int64
	var err error
	switch len(args) {
	case 1:
		stop, err = toInt(args[0])
	case 2:
		if start, err = toInt(args[0]); err == nil {
			stop, err = toInt(args[1])
		}
	default:
		return nil, fmt.Errorf("loop: takes 1 or 2 arguments, got %d", len(args))
	}
	if err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	if stop-start > maxLoop {
		return nil, fmt.Errorf("loop: at most %d iterations", maxLoop)
	}
	out := make([]int, 0, max(stop-start, 0))
	for i := start; i < stop; i++ {
		out = append(out, int(i))
	}
	return out, nil
}

func toInt(v any) (int64, error) {
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case int32:
		return int64(n), nil
	case uint:
		return int64(n), nil
	case uint64:
		return int64(n), nil
	case float64:
		return int64(n), nil
	case string:
		return strconv.ParseInt(strings.TrimSpace(n), 10, 64)
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

func toFloat(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case float32:
		return float64(n), nil
	case string:
		return strconv.ParseFloat(strings.TrimSpace(n), 64)
	}
	i, err := toInt(v)
	return float64(i), err
}

func parseBool(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	return strconv.ParseBool(s)
}

func parseFloat(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseFloat(s, 64)
}

func parseInt(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

func parseUint(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

func parseJSON(s string) (any, error) {
	if s == "" {
		return map[string]any{}, nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("parseJSON: %w", err)
	}
	return v, nil
}

func parseYAML(s string) (any, error) {
	if s == "" {
		return map[string]any{}, nil
	}
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("parseYAML: %w", err)
	}
	return v, nil
}

func regexMatch(re, s string) (bool, error) { return regexp.MatchString(re, s) }

func regexReplaceAll(re, to, s string) (string, error) {
	r, err := regexp.Compile(re)
	if err != nil {
		return "", err
	}
	return r.ReplaceAllString(s, to), nil
}

func splitNonEmpty(s, sep string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return []string{}
	}
	return strings.Split(s, sep)
}

func splitToMap(sep1, sep2, s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range splitNonEmpty(s, sep1) {
		k, v, ok := strings.Cut(pair, sep2)
		if !ok {
			return nil, fmt.Errorf("splitToMap: %q has no %q", pair, sep2)
		}
		out[k] = v
	}
	return out, nil
}

// timestamp formats the current time (RFC 3339 by default, UTC), as
// consul-template's timestamp.
func timestamp(format ...string) string {
	now := time.Now().UTC()
	if len(format) == 0 || format[0] == "" {
		return now.Format(time.RFC3339)
	}
	return now.Format(format[0])
}

func toJSON(pretty, escape bool) func(any) (string, error) {
	return func(v any) (string, error) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(escape)
		if pretty {
			enc.SetIndent("", "  ")
		}
		if err := enc.Encode(v); err != nil {
			return "", fmt.Errorf("toJSON: %w", err)
		}
		return strings.TrimSuffix(buf.String(), "\n"), nil
	}
}

func toYAML(v any) (string, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("toYAML: %w", err)
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

func toTitle(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// sockaddr evaluates a go-sockaddr template expression, e.g.
// {{ sockaddr "GetPrivateIP" }} or
// {{ sockaddr "GetInterfaceIP \"eth0\"" }}.
func sockaddr(args ...string) (string, error) {
	t := fmt.Sprintf("{{ %s }}", strings.Join(args, " "))
	out, err := socktmpl.Parse(t)
	if err != nil {
		return "", fmt.Errorf("sockaddr: %w", err)
	}
	return out, nil
}

// arith is consul-template's math helpers, on integers when both operands
// are integers and on floats otherwise. As in consul-template the operand
// order suits pipelines: {{ 10 | subtract 2 }} is 8, so subtract, divide
// and modulo compute second OP first.
func arith(op string) func(a, b any) (any, error) {
	return func(b, a any) (any, error) {
		ia, erra := toInt(a)
		ib, errb := toInt(b)
		_, fa := a.(float64)
		_, fb := b.(float64)
		if erra == nil && errb == nil && !fa && !fb {
			switch op {
			case "add":
				return ia + ib, nil
			case "subtract":
				return ia - ib, nil
			case "multiply":
				return ia * ib, nil
			case "divide", "modulo":
				if ib == 0 {
					return nil, errors.New(op + ": division by zero")
				}
				if op == "divide" {
					return ia / ib, nil
				}
				return ia % ib, nil
			case "minimum":
				return min(ia, ib), nil
			case "maximum":
				return max(ia, ib), nil
			}
		}
		x, err := toFloat(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		y, err := toFloat(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		switch op {
		case "add":
			return x + y, nil
		case "subtract":
			return x - y, nil
		case "multiply":
			return x * y, nil
		case "divide":
			if y == 0 {
				return nil, errors.New("divide: division by zero")
			}
			return x / y, nil
		case "minimum":
			return min(x, y), nil
		case "maximum":
			return max(x, y), nil
		}
		return nil, fmt.Errorf("%s: needs integers", op)
	}
}

// byTag groups service instances by tag, as consul-template's byTag: a
// map from each tag to the instances carrying it, sorted by tag when
// ranged over.
func byTag(in any) (map[string][]*Service, error) {
	svcs, ok := in.([]*Service)
	if !ok {
		return nil, fmt.Errorf("byTag: needs the result of nomadService, got %T", in)
	}
	out := map[string][]*Service{}
	for _, s := range svcs {
		tags := append([]string(nil), s.Tags...)
		sort.Strings(tags)
		for i, t := range tags {
			if i > 0 && tags[i-1] == t {
				continue
			}
			out[t] = append(out[t], s)
		}
	}
	return out, nil
}
