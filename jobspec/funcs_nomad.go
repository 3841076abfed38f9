package jobspec

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/apparentlymart/go-cidr/cidr"
	"github.com/bmatcuk/doublestar/v4"
	"github.com/google/uuid"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	ctyyaml "github.com/zclconf/go-cty-yaml"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"github.com/zclconf/go-cty/cty/gocty"
	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// nomadFunctions adds the rest of Nomad's jobspec functions: UUIDs,
// paths and file sets, bcrypt and RSA, CIDR arithmetic, YAML, index and
// convert. Filesystem functions obey allowFS like file() does.
func nomadFunctions(fs map[string]function.Function, baseDir string, allowFS bool) {
	fs["uuidv4"] = function.New(&function.Spec{
		Type: function.StaticReturnType(cty.String),
		Impl: func([]cty.Value, cty.Type) (cty.Value, error) { return cty.StringVal(uuid.NewString()), nil },
	})
	fs["uuidv5"] = uuidv5Func
	fs["index"] = indexFunc
	fs["convert"] = typeexpr.ConvertFunc
	fs["yamldecode"] = boundedYAMLDecode
	fs["yamlencode"] = ctyyaml.YAMLEncodeFunc
	fs["bcrypt"] = bcryptFunc
	fs["rsadecrypt"] = rsaDecryptFunc
	fs["cidrhost"] = cidrHostFunc
	fs["cidrnetmask"] = cidrNetmaskFunc
	fs["cidrsubnet"] = cidrSubnetFunc
	fs["cidrsubnets"] = cidrSubnetsFunc
	fs["basename"] = stringFunc(func(p string) (string, error) { return filepath.Base(p), nil })
	fs["dirname"] = stringFunc(func(p string) (string, error) { return filepath.Dir(p), nil })
	fs["abspath"] = stringFunc(func(p string) (string, error) {
		if !allowFS {
			return "", errFSDisabled
		}
		return filepath.Abs(resolvePath(baseDir, p))
	})
	fs["pathexpand"] = stringFunc(func(p string) (string, error) {
		if !allowFS {
			return "", errFSDisabled
		}
		return pathExpand(p)
	})
	fs["filebase64"] = stringFunc(func(p string) (string, error) {
		b, err := readFileBytes(baseDir, allowFS, p)
		if err != nil {
			return "", err
		}
		return base64.StdEncoding.EncodeToString(b), nil
	})
	fs["fileset"] = fileSetFunc(baseDir, allowFS)
	boundedFunctions(fs)
}

func pathExpand(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("pathexpand: %w", err)
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

var uuidv5Func = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "namespace", Type: cty.String}, {Name: "name", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		var ns uuid.UUID
		switch s := args[0].AsString(); s {
		case "dns":
			ns = uuid.NameSpaceDNS
		case "url":
			ns = uuid.NameSpaceURL
		case "oid":
			ns = uuid.NameSpaceOID
		case "x500":
			ns = uuid.NameSpaceX500
		default:
			var err error
			if ns, err = uuid.Parse(s); err != nil {
				return cty.UnknownVal(cty.String), fmt.Errorf("uuidv5: namespace %q is not dns, url, oid, x500 or a UUID", s)
			}
		}
		return cty.StringVal(uuid.NewSHA1(ns, []byte(args[1].AsString())).String()), nil
	},
})

// indexFunc finds the position of a value in a list: index(list, value).
var indexFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}, {Name: "value", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		l := args[0]
		if !(l.Type().IsListType() || l.Type().IsTupleType()) {
			return cty.UnknownVal(cty.Number), fmt.Errorf("index: the first argument must be a list or tuple")
		}
		i := 0
		for it := l.ElementIterator(); it.Next(); i++ {
			_, e := it.Element()
			if eq, err := stdlib.Equal(e, args[1]); err == nil && eq.True() {
				return cty.NumberIntVal(int64(i)), nil
			}
		}
		return cty.UnknownVal(cty.Number), fmt.Errorf("index: item not found")
	},
})

// maxYAMLNodes bounds what yamldecode may build: aliases expand in place,
// so a few lines of anchors can stand for billions of values.
const maxYAMLNodes = 100_000

// boundedYAMLDecode is yamldecode refusing documents whose aliases
// expand past maxYAMLNodes, counted on the unexpanded node tree.
var boundedYAMLDecode = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "src", Type: cty.String}},
	Type: func(args []cty.Value) (cty.Type, error) {
		if err := checkYAMLSize(args[0]); err != nil {
			return cty.NilType, err
		}
		return ctyyaml.YAMLDecodeFunc.ReturnTypeForValues(args)
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if err := checkYAMLSize(args[0]); err != nil {
			return cty.NilVal, err
		}
		return ctyyaml.YAMLDecodeFunc.Call(args)
	},
})

func checkYAMLSize(v cty.Value) error {
	if !v.IsKnown() || v.IsNull() {
		return nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(v.AsString()), &root); err != nil {
		return nil // yamldecode reports the syntax error itself
	}
	memo := map[*yaml.Node]int{}
	var size func(n *yaml.Node, depth int) int
	size = func(n *yaml.Node, depth int) int {
		if n == nil || depth > 1000 {
			return maxYAMLNodes + 1
		}
		if s, ok := memo[n]; ok {
			return s
		}
		memo[n] = maxYAMLNodes + 1 // a cycle counts as too big
		total := 1
		if n.Kind == yaml.AliasNode {
			total += size(n.Alias, depth+1)
		}
		for _, c := range n.Content {
			total += size(c, depth+1)
			if total > maxYAMLNodes {
				break
			}
		}
		memo[n] = total
		return total
	}
	if size(&root, 0) > maxYAMLNodes {
		return fmt.Errorf("yamldecode: the document expands to more than %d values", maxYAMLNodes)
	}
	return nil
}

var bcryptFunc = function.New(&function.Spec{
	Params:   []function.Parameter{{Name: "str", Type: cty.String}},
	VarParam: &function.Parameter{Name: "cost", Type: cty.Number},
	Type:     function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		cost := bcrypt.DefaultCost
		if len(args) > 1 {
			if err := gocty.FromCtyValue(args[1], &cost); err != nil {
				return cty.UnknownVal(cty.String), fmt.Errorf("bcrypt: cost: %w", err)
			}
		}
		if len(args) > 2 {
			return cty.UnknownVal(cty.String), fmt.Errorf("bcrypt: at most one cost argument")
		}
		h, err := bcrypt.GenerateFromPassword([]byte(args[0].AsString()), cost)
		if err != nil {
			return cty.UnknownVal(cty.String), fmt.Errorf("bcrypt: %w", err)
		}
		return cty.StringVal(string(h)), nil
	},
})

var rsaDecryptFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "ciphertext", Type: cty.String}, {Name: "privatekey", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		ct, err := base64.StdEncoding.DecodeString(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), fmt.Errorf("rsadecrypt: ciphertext is not base64: %w", err)
		}
		blk, _ := pem.Decode([]byte(args[1].AsString()))
		if blk == nil {
			return cty.UnknownVal(cty.String), fmt.Errorf("rsadecrypt: private key is not PEM")
		}
		var key *rsa.PrivateKey
		if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
			key = k
		} else if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return cty.UnknownVal(cty.String), fmt.Errorf("rsadecrypt: the private key is not an RSA key")
			}
			key = rk
		} else {
			return cty.UnknownVal(cty.String), fmt.Errorf("rsadecrypt: cannot parse the private key")
		}
		out, err := rsa.DecryptPKCS1v15(nil, key, ct)
		if err != nil {
			return cty.UnknownVal(cty.String), fmt.Errorf("rsadecrypt: %w", err)
		}
		return cty.StringVal(string(out)), nil
	},
})

func parseCIDR(s string) (*net.IPNet, error) {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		return nil, fmt.Errorf("invalid CIDR %q: %w", s, err)
	}
	return n, nil
}

func toInt(v cty.Value) (int, error) {
	var i int
	err := gocty.FromCtyValue(v, &i)
	return i, err
}

var cidrHostFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		n, err := parseCIDR(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), err
		}
		num, _ := args[1].AsBigFloat().Int(nil)
		ip, err := cidr.HostBig(n, num)
		if err != nil {
			return cty.UnknownVal(cty.String), err
		}
		return cty.StringVal(ip.String()), nil
	},
})

var cidrNetmaskFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		n, err := parseCIDR(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), err
		}
		if n.IP.To4() == nil {
			return cty.UnknownVal(cty.String), fmt.Errorf("cidrnetmask: only IPv4 prefixes have a dotted netmask")
		}
		return cty.StringVal(net.IP(n.Mask).String()), nil
	},
})

var cidrSubnetFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "newbits", Type: cty.Number}, {Name: "netnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		n, err := parseCIDR(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), err
		}
		bits, err := toInt(args[1])
		if err != nil {
			return cty.UnknownVal(cty.String), fmt.Errorf("cidrsubnet: newbits: %w", err)
		}
		num, _ := args[2].AsBigFloat().Int(nil)
		sub, err := cidr.SubnetBig(n, bits, num)
		if err != nil {
			return cty.UnknownVal(cty.String), err
		}
		return cty.StringVal(sub.String()), nil
	},
})

// cidrSubnetsFunc allocates consecutive subnets of the given sizes, each
// aligned after the previous one, as Terraform and Nomad define it.
var cidrSubnetsFunc = function.New(&function.Spec{
	Params:   []function.Parameter{{Name: "prefix", Type: cty.String}},
	VarParam: &function.Parameter{Name: "newbits", Type: cty.Number},
	Type:     function.StaticReturnType(cty.List(cty.String)),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		n, err := parseCIDR(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.List(cty.String)), err
		}
		if len(args) == 1 {
			return cty.ListValEmpty(cty.String), nil
		}
		start, _ := n.Mask.Size()
		var out []cty.Value
		var prev *net.IPNet
		for i, a := range args[1:] {
			bits, err := toInt(a)
			if err != nil || bits < 1 {
				return cty.UnknownVal(cty.List(cty.String)), fmt.Errorf("cidrsubnets: newbits[%d] must be a positive whole number", i)
			}
			length := start + bits
			var next *net.IPNet
			if prev == nil {
				next, err = cidr.SubnetBig(n, bits, big.NewInt(0))
			} else {
				next, err = nextSubnet(prev, length)
			}
			if err != nil || !n.Contains(next.IP) {
				return cty.UnknownVal(cty.List(cty.String)), fmt.Errorf("cidrsubnets: not enough room in %s for newbits[%d]", n, i)
			}
			out = append(out, cty.StringVal(next.String()))
			prev = next
		}
		return cty.ListVal(out), nil
	},
})

// nextSubnet is the first subnet of the given prefix length that starts
// after prev ends.
func nextSubnet(prev *net.IPNet, length int) (*net.IPNet, error) {
	_, last := cidr.AddressRange(prev)
	ip := cidr.Inc(last)
	bits := len(ip) * 8
	if ip.To4() != nil {
		ip, bits = ip.To4(), 32
	}
	mask := net.CIDRMask(length, bits)
	n := &net.IPNet{IP: ip.Mask(mask), Mask: mask}
	if !n.IP.Equal(ip) {
		// Not aligned: move to the next boundary.
		_, end := cidr.AddressRange(n)
		n = &net.IPNet{IP: cidr.Inc(end).Mask(mask), Mask: mask}
	}
	if n.IP.Equal(make(net.IP, len(n.IP))) {
		return nil, fmt.Errorf("address space exhausted")
	}
	return n, nil
}

func readFileBytes(baseDir string, allowFS bool, p string) ([]byte, error) {
	if !allowFS {
		return nil, errFSDisabled
	}
	path := resolvePath(baseDir, p)
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("read %s: file larger than %d bytes", p, maxFileSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return b, nil
}

// fileSetFunc lists the files under path matching a pattern (with **),
// as relative, sorted, slash-separated paths.
func fileSetFunc(baseDir string, allowFS bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "pattern", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Set(cty.String)),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if !allowFS {
				return cty.UnknownVal(cty.Set(cty.String)), errFSDisabled
			}
			root := resolvePath(baseDir, args[0].AsString())
			matches, err := doublestar.Glob(os.DirFS(root), args[1].AsString(), doublestar.WithFilesOnly())
			if err != nil {
				return cty.UnknownVal(cty.Set(cty.String)), fmt.Errorf("fileset: %w", err)
			}
			if len(matches) == 0 {
				return cty.SetValEmpty(cty.String), nil
			}
			sort.Strings(matches)
			vals := make([]cty.Value, len(matches))
			for i, m := range matches {
				vals[i] = cty.StringVal(m)
			}
			return cty.SetVal(vals), nil
		},
	})
}

// Bounds on what a job file's functions may build. Job files also arrive
// over the network (POST /v1/jobs/parse), where a few bytes such as
// range(1e9) must not make the server allocate without bound.
const (
	maxGenerated  = 100_000 // range() elements, setproduct() combinations
	maxFormatWide = 10_000  // a format verb's width or precision
	maxBcryptCost = 14      // about a second; the default is 10
)

// boundedFunctions wraps the functions whose output can dwarf their input.
func boundedFunctions(fs map[string]function.Function) {
	fs["range"] = guard(stdlib.RangeFunc, func(args []cty.Value) error {
		nums := make([]float64, len(args))
		for i, a := range args {
			if !a.IsKnown() || a.IsNull() {
				return nil
			}
			f, _ := a.AsBigFloat().Float64()
			nums[i] = f
		}
		start, end, step := 0.0, 0.0, 1.0
		switch len(nums) {
		case 1:
			end = nums[0]
		case 2:
			start, end = nums[0], nums[1]
		case 3:
			start, end, step = nums[0], nums[1], nums[2]
		}
		if step != 0 && math.Abs((end-start)/step) > maxGenerated {
			return fmt.Errorf("range would produce more than %d elements", maxGenerated)
		}
		return nil
	})
	fs["setproduct"] = guard(stdlib.SetProductFunc, func(args []cty.Value) error {
		total := 1.0
		for _, a := range args {
			if !a.IsKnown() || a.IsNull() || !a.CanIterateElements() {
				return nil
			}
			total *= float64(a.LengthInt())
		}
		if total > maxGenerated {
			return fmt.Errorf("setproduct would produce more than %d combinations", maxGenerated)
		}
		return nil
	})
	widths := regexp.MustCompile(`%[-+ #0]*(\d*)(?:\.(\d*))?`)
	checkFormat := func(args []cty.Value) error {
		if len(args) == 0 || !args[0].IsKnown() || args[0].IsNull() || args[0].Type() != cty.String {
			return nil
		}
		for _, m := range widths.FindAllStringSubmatch(args[0].AsString(), -1) {
			for _, n := range m[1:] {
				if len(n) > 5 {
					return fmt.Errorf("format width or precision larger than %d", maxFormatWide)
				}
				if v, _ := strconv.Atoi(n); v > maxFormatWide {
					return fmt.Errorf("format width or precision larger than %d", maxFormatWide)
				}
			}
		}
		return nil
	}
	fs["format"] = guard(stdlib.FormatFunc, checkFormat)
	fs["formatlist"] = guard(stdlib.FormatListFunc, checkFormat)
	fs["bcrypt"] = guard(bcryptFunc, func(args []cty.Value) error {
		if len(args) > 1 && args[1].IsKnown() && !args[1].IsNull() {
			if c, _ := args[1].AsBigFloat().Int64(); c > maxBcryptCost {
				return fmt.Errorf("bcrypt cost %d is more than %d", c, maxBcryptCost)
			}
		}
		return nil
	})
}

// guard runs check on a call's arguments before f.
func guard(f function.Function, check func([]cty.Value) error) function.Function {
	spec := &function.Spec{
		Params:   f.Params(),
		VarParam: f.VarParam(),
		Type: func(args []cty.Value) (cty.Type, error) {
			if err := check(args); err != nil {
				return cty.NilType, err
			}
			return f.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if err := check(args); err != nil {
				return cty.NilVal, err
			}
			return f.Call(args)
		},
	}
	return function.New(spec)
}
