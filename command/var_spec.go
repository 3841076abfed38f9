package command

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/template"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/structs"
)

// Variable specifications (Nomad's spec.nv.hcl / spec.nv.json) and the
// output formats of the var commands.

// parseVarSpec reads a variable specification in HCL or JSON.
func parseVarSpec(name string, src []byte, format string) (*structs.VariableDecrypted, error) {
	if format == "" {
		format = "hcl"
		if strings.HasSuffix(name, ".json") {
			format = "json"
		}
	}
	v := &structs.VariableDecrypted{}
	switch format {
	case "json":
		if err := json.Unmarshal(src, v); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", name, err)
		}
		return v, nil
	case "hcl":
		return parseVarSpecHCL(name, src)
	}
	return nil, fmt.Errorf("unknown specification format %q: want hcl or json", format)
}

func parseVarSpecHCL(name string, src []byte) (*structs.VariableDecrypted, error) {
	f, diags := hclparse.NewParser().ParseHCL(src, name)
	if diags.HasErrors() {
		return nil, diags
	}
	content, diags := f.Body.Content(&hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "path"}, {Name: "namespace"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "items"}},
	})
	if diags.HasErrors() {
		return nil, diags
	}
	v := &structs.VariableDecrypted{Items: structs.VariableItems{}}
	for name, dst := range map[string]*string{"path": &v.Path, "namespace": &v.Namespace} {
		if attr, ok := content.Attributes[name]; ok {
			s, err := hclString(attr)
			if err != nil {
				return nil, err
			}
			*dst = s
		}
	}
	for _, b := range content.Blocks {
		attrs, diags := b.Body.JustAttributes()
		if diags.HasErrors() {
			return nil, diags
		}
		for k, attr := range attrs {
			s, err := hclString(attr)
			if err != nil {
				return nil, err
			}
			v.Items[k] = s
		}
	}
	return v, nil
}

func hclString(attr *hcl.Attribute) (string, error) {
	val, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return "", diags
	}
	switch {
	case val.Type() == cty.String:
		return val.AsString(), nil
	case val.Type() == cty.Number:
		return val.AsBigFloat().Text('f', -1), nil
	case val.Type() == cty.Bool:
		return strconv.FormatBool(val.True()), nil
	}
	return "", fmt.Errorf("%s: %q must be a string", attr.Range, attr.Name)
}

// formatVarHCL renders a variable as a specification file.
func formatVarHCL(v *structs.VariableDecrypted) string {
	var b strings.Builder
	fmt.Fprintf(&b, "namespace = %q\npath      = %q\n\nitems {\n", v.Namespace, v.Path)
	width := 0
	for _, k := range sortedKeys(v.Items) {
		width = max(width, len(k))
	}
	for _, k := range sortedKeys(v.Items) {
		fmt.Fprintf(&b, "  %-*s = %q\n", width, k, v.Items[k])
	}
	b.WriteString("}\n")
	return b.String()
}

// printVarTable prints a variable as Nomad's table output.
func (c *cli) printVarTable(v *structs.VariableDecrypted) {
	kv := [][2]string{
		{"Namespace", v.Namespace}, {"Path", v.Path},
		{"Create Time", formatUnixNano(v.CreateTime)}, {"Check Index", strconv.FormatUint(v.ModifyIndex, 10)},
	}
	if v.Lock != nil {
		kv = append(kv, [2]string{"Lock ID", v.Lock.ID}, [2]string{"Lock TTL", v.Lock.TTL}, [2]string{"Lock Delay", v.Lock.LockDelay})
	}
	printKV(c.out, kv)
	if len(v.Items) == 0 {
		return
	}
	fmt.Fprintln(c.out, "\nItems")
	items := make([][2]string, 0, len(v.Items))
	for _, k := range sortedKeys(v.Items) {
		items = append(items, [2]string{k, v.Items[k]})
	}
	printKV(c.out, items)
}

// printVar renders a variable in one of Nomad's -out formats.
func (c *cli) printVar(v *structs.VariableDecrypted, format, tmpl string) int {
	switch format {
	case "none":
		return 0
	case "json":
		return c.printJSON(v)
	case "hcl":
		fmt.Fprint(c.out, formatVarHCL(v))
		return 0
	case "table":
		c.printVarTable(v)
		return 0
	case "go-template":
		if tmpl == "" {
			return c.fail("A template must be supplied using '-template' when using go-template formatting")
		}
		t, err := template.New("var").Parse(tmpl)
		if err != nil {
			return c.fail("Error parsing template: %v", err)
		}
		if err := t.Execute(c.out, v); err != nil {
			return c.fail("Error executing template: %v", err)
		}
		return 0
	}
	return c.fail("Invalid -out format %q: use none, json, hcl, table or go-template", format)
}

// isTerminal reports whether w is a terminal: Nomad's var commands print
// tables to terminals and JSON to pipes.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

const varSpecExample = `# A variable path can be given in the specification file; "orch var put"
# then needs no path argument.
# path = "path/to/variable"

# The namespace to write the variable to; the -namespace flag overrides it.
# namespace = "default"

# The items map is the only required part of a specification: the
# sensitive material to encrypt and store. It is encrypted as one unit.
items {
  # Keys are any string; values are strings.
  your_key = "your_value"
}
`

const varSpecExampleJSON = `{
  "Path": "path/to/variable",
  "Namespace": "default",
  "Items": {
    "your_key": "your_value"
  }
}
`
