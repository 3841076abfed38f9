package jobspec

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions returns the functions available in job files. Names follow
// Nomad's HCL2 jobspec. Filesystem functions resolve paths relative to
// baseDir and refuse to run unless allowFS is set, so a job submitted over
// the API cannot read the server's disk.
func functions(baseDir string, allowFS bool) map[string]function.Function {
	fs := map[string]function.Function{
		// strings
		"chomp": stdlib.ChompFunc, "format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"indent": stdlib.IndentFunc, "join": stdlib.JoinFunc, "lower": stdlib.LowerFunc,
		"regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc, "regex_replace": stdlib.RegexReplaceFunc,
		"replace": stdlib.ReplaceFunc, "split": stdlib.SplitFunc, "strlen": stdlib.StrlenFunc,
		"strrev": stdlib.ReverseFunc, "substr": stdlib.SubstrFunc, "title": stdlib.TitleFunc,
		"trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc, "trimspace": stdlib.TrimSpaceFunc,
		"trimsuffix": stdlib.TrimSuffixFunc, "upper": stdlib.UpperFunc,
		// collections
		"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
		"compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc,
		"distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc,
		"keys": stdlib.KeysFunc, "length": stdlib.LengthFunc, "lookup": stdlib.LookupFunc,
		"merge": stdlib.MergeFunc, "range": stdlib.RangeFunc, "reverse": stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc, "setproduct": stdlib.SetProductFunc,
		"setsubtract": stdlib.SetSubtractFunc, "setunion": stdlib.SetUnionFunc, "slice": stdlib.SliceFunc,
		"sort": stdlib.SortFunc, "values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		// encoding
		"csvdecode": stdlib.CSVDecodeFunc, "jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc,
		"base64encode": stringFunc(func(s string) (string, error) { return base64.StdEncoding.EncodeToString([]byte(s)), nil }),
		"base64decode": stringFunc(base64Decode),
		"urlencode":    stringFunc(func(s string) (string, error) { return url.QueryEscape(s), nil }),
		"md5":          stringFunc(hashHex(func(b []byte) []byte { h := md5.Sum(b); return h[:] })),
		"sha1":         stringFunc(hashHex(func(b []byte) []byte { h := sha1.Sum(b); return h[:] })),
		"sha256":       stringFunc(hashHex(func(b []byte) []byte { h := sha256.Sum256(b); return h[:] })),
		"sha512":       stringFunc(hashHex(func(b []byte) []byte { h := sha512.Sum512(b); return h[:] })),
		// numeric
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc, "log": stdlib.LogFunc,
		"max": stdlib.MaxFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc, "pow": stdlib.PowFunc,
		"signum": stdlib.SignumFunc,
		// datetime
		"formatdate": stdlib.FormatDateFunc, "timeadd": stdlib.TimeAddFunc,
		// type conversion
		"tobool": stdlib.MakeToFunc(cty.Bool), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tostring": stdlib.MakeToFunc(cty.String), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)), "tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		// error handling
		"try": tryfunc.TryFunc, "can": tryfunc.CanFunc,
	}
	fs["file"] = fileFunc(baseDir, allowFS)
	fs["fileexists"] = fileExistsFunc(baseDir, allowFS)
	nomadFunctions(fs, baseDir, allowFS)
	fs["templatefile"] = templateFileFunc(baseDir, allowFS, fs)
	return fs
}

func stringFunc(f func(string) (string, error)) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			s, err := f(args[0].AsString())
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			return cty.StringVal(s), nil
		},
	})
}

func hashHex(sum func([]byte) []byte) func(string) (string, error) {
	return func(s string) (string, error) { return hex.EncodeToString(sum([]byte(s))), nil }
}

func base64Decode(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("invalid base64: %w", err)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("decoded base64 is not valid UTF-8")
	}
	return string(b), nil
}

var errFSDisabled = fmt.Errorf("filesystem functions are disabled for this parse (AllowFS is false)")

func resolvePath(baseDir, p string) string {
	if filepath.IsAbs(p) || baseDir == "" {
		return p
	}
	return filepath.Join(baseDir, p)
}

// maxFileSize bounds what file() and templatefile() read into a job.
const maxFileSize = 4 << 20

func readFile(baseDir string, allowFS bool, p string) (string, error) {
	if !allowFS {
		return "", errFSDisabled
	}
	path := resolvePath(baseDir, p)
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	if st.Size() > maxFileSize {
		return "", fmt.Errorf("read %s: file larger than %d bytes", p, maxFileSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("read %s: contents are not valid UTF-8", p)
	}
	return string(b), nil
}

func fileFunc(baseDir string, allowFS bool) function.Function {
	return stringFunc(func(p string) (string, error) { return readFile(baseDir, allowFS, p) })
}

func fileExistsFunc(baseDir string, allowFS bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if !allowFS {
				return cty.UnknownVal(cty.Bool), errFSDisabled
			}
			st, err := os.Stat(resolvePath(baseDir, args[0].AsString()))
			if err != nil {
				if os.IsNotExist(err) {
					return cty.False, nil
				}
				return cty.UnknownVal(cty.Bool), err
			}
			return cty.BoolVal(st.Mode().IsRegular()), nil
		},
	})
}

// templateFileFunc renders a file as an HCL template with the given
// variables. The template may call every function except templatefile
// itself, which rules out recursion.
func templateFileFunc(baseDir string, allowFS bool, fs map[string]function.Function) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "vars", Type: cty.DynamicPseudoType},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			src, err := readFile(baseDir, allowFS, args[0].AsString())
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			vars := args[1]
			if !vars.Type().IsObjectType() && !vars.Type().IsMapType() {
				return cty.UnknownVal(cty.String), fmt.Errorf("templatefile vars must be an object or map")
			}
			expr, diags := hclsyntax.ParseTemplate([]byte(src), args[0].AsString(), hcl.InitialPos)
			if diags.HasErrors() {
				return cty.UnknownVal(cty.String), fmt.Errorf("parse template: %s", diags.Error())
			}
			inner := make(map[string]function.Function, len(fs))
			for k, f := range fs {
				if k != "templatefile" {
					inner[k] = f
				}
			}
			ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: inner}
			if !vars.IsNull() {
				for it := vars.ElementIterator(); it.Next(); {
					k, v := it.Element()
					ctx.Variables[k.AsString()] = v
				}
			}
			for _, t := range expr.Variables() {
				if _, ok := ctx.Variables[t.RootName()]; !ok && !isRuntimeRoot(t.RootName()) {
					return cty.UnknownVal(cty.String), fmt.Errorf("template references %q, which is not in vars", t.RootName())
				}
			}
			v, diags := expr.Value(runtimeContext(ctx, expr.Variables()))
			if diags.HasErrors() {
				return cty.UnknownVal(cty.String), fmt.Errorf("render template: %s", diags.Error())
			}
			if v.IsNull() || v.Type() != cty.String {
				return cty.UnknownVal(cty.String), fmt.Errorf("template did not produce a string")
			}
			return v, nil
		},
	})
}

var _ = bytes.Compare
var _ = strings.Cut
