package command

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

// The var commands: orch var put|get|list|purge|lock|init, with Nomad's
// arguments, flags and output formats.

func (c *cli) varCommands() map[string]func([]string) int {
	return map[string]func([]string) int{
		"put": c.varPut, "get": c.varGet, "list": c.varList, "purge": c.varPurge, "lock": c.varLock, "init": c.varInit,
	}
}

// checkIndexFlag is -check-index: unset differs from 0 (which means "the
// variable must not exist yet").
type checkIndexFlag struct{ v *uint64 }

func (f *checkIndexFlag) String() string {
	if f.v == nil {
		return ""
	}
	return strconv.FormatUint(*f.v, 10)
}

func (f *checkIndexFlag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("invalid check index %q", s)
	}
	f.v = &n
	return nil
}

const varPutUsage = "var put [-check-index N] [-force] [-in hcl|json] [-out none|json|table|hcl|go-template] [-template T] <path> [@spec] [key=value]..."

func (c *cli) varPut(args []string) int {
	var m meta
	var check checkIndexFlag
	var force, verbose bool
	var in, out, tmpl string
	fs := c.flagSet("var put", &m)
	fs.Var(&check, "check-index", "write only if the variable's modify index is this (0: only if it does not exist)")
	fs.BoolVar(&force, "force", false, "write regardless of the variable's index on the server")
	fs.StringVar(&in, "in", "json", "format of a specification read from stdin: hcl or json")
	fs.StringVar(&out, "out", "none", "output format: none, json, table, hcl or go-template")
	fs.StringVar(&tmpl, "template", "", "template for -out go-template")
	fs.BoolVar(&verbose, "verbose", false, "explain what is read")
	fs.BoolVar(&verbose, "v", false, "explain what is read")
	if !c.parse(fs, args, varPutUsage) {
		return 1
	}
	v, err := c.varFromArgs(fs.Args(), in, verbose)
	if err != nil {
		return c.fail("Error: %v\nUsage: orch %s", err, varPutUsage)
	}
	if m.namespace != "" {
		v.Namespace = m.namespace
	}
	if v.Namespace == "" {
		v.Namespace = structs.DefaultNamespace
	}
	if err := v.Validate(false); err != nil {
		return c.fail("Error: %v", err)
	}
	// A specification read back from the server carries its modify index:
	// writing it back is a check-and-set unless forced.
	var cas *uint64
	if v.ModifyIndex > 0 {
		idx := v.ModifyIndex
		cas = &idx
	}
	if check.v != nil {
		cas = check.v
	}
	if force {
		cas = nil
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	q := &api.QueryOptions{Namespace: v.Namespace}
	written, err := client.Variables().Put(c.ctx, v, cas, q)
	if err != nil {
		var ce *api.CASConflictError
		if errors.As(err, &ce) && ce.Current != nil {
			return c.fail("Error writing variable: check-index %s does not match the variable's modify index %d",
				(&checkIndexFlag{cas}).String(), ce.Current.ModifyIndex)
		}
		return c.fail("Error writing variable: %v", err)
	}
	verb := "created"
	if written.ModifyIndex != written.CreateIndex {
		verb = "updated"
	}
	switch out {
	case "none":
		fmt.Fprintf(c.out, "%s variable %q with modify index %d\n", capitalize(verb), written.Path, written.ModifyIndex)
		return 0
	case "table":
		fmt.Fprintf(c.out, "Successfully %s variable %q!\n\n", verb, written.Path)
	}
	return c.printVar(written, out, tmpl)
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// varFromArgs builds the variable of var put's (and var lock's)
// arguments: a path or @spec (or - for a spec on stdin), an optional
// @spec after a path, then key=value items whose value may be @file or -
// (stdin). Items on the command line override the specification's.
func (c *cli) varFromArgs(args []string, in string, verbose bool) (*structs.VariableDecrypted, error) {
	if len(args) == 0 {
		return nil, errors.New("a variable path or specification is required")
	}
	v := &structs.VariableDecrypted{}
	readSpec := func(arg string) error {
		var spec *structs.VariableDecrypted
		var err error
		switch {
		case arg == "-":
			if verbose {
				fmt.Fprintf(c.err, "Reading whole %s variable specification from stdin\n", strings.ToUpper(in))
			}
			src, rerr := io.ReadAll(c.in)
			if rerr != nil {
				return fmt.Errorf("reading stdin: %w", rerr)
			}
			spec, err = parseVarSpec("stdin", src, in)
		default:
			name := strings.TrimPrefix(arg, "@")
			src, rerr := os.ReadFile(name)
			if rerr != nil {
				return fmt.Errorf("reading specification: %w", rerr)
			}
			spec, err = parseVarSpec(name, src, "")
		}
		if err != nil {
			return err
		}
		path := v.Path
		*v = *spec
		if path != "" {
			v.Path = path
		}
		return nil
	}
	rest := args
	switch first := args[0]; {
	case first == "-" || strings.HasPrefix(first, "@"):
		if err := readSpec(first); err != nil {
			return nil, err
		}
		rest = args[1:]
	case strings.Contains(first, "="):
		return nil, fmt.Errorf("the first argument must be a path or a specification, not %q", first)
	default:
		v.Path = first
		rest = args[1:]
		if len(rest) > 0 && (rest[0] == "-" || strings.HasPrefix(rest[0], "@")) && !strings.Contains(rest[0], "=") {
			if err := readSpec(rest[0]); err != nil {
				return nil, err
			}
			rest = rest[1:]
		}
	}
	if v.Items == nil {
		v.Items = structs.VariableItems{}
	}
	for _, kv := range rest {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("item %q is not of the form key=value", kv)
		}
		switch {
		case val == "-":
			b, err := io.ReadAll(c.in)
			if err != nil {
				return nil, fmt.Errorf("reading stdin for %q: %w", k, err)
			}
			val = string(b)
		case strings.HasPrefix(val, "@"):
			b, err := os.ReadFile(val[1:])
			if err != nil {
				return nil, fmt.Errorf("reading %q for %q: %w", val[1:], k, err)
			}
			val = string(b)
		}
		v.Items[k] = val
	}
	if v.Path == "" {
		return nil, errors.New("no variable path given, in the arguments or the specification")
	}
	return v, nil
}

const varGetUsage = "var get [-item key] [-out json|table|hcl|go-template|none] [-template T] <path>"

func (c *cli) varGet(args []string) int {
	var m meta
	var item, out, tmpl string
	fs := c.flagSet("var get", &m)
	fs.StringVar(&item, "item", "", "print only this item's value")
	fs.StringVar(&out, "out", "", "output format (default table on a terminal, json otherwise)")
	fs.StringVar(&tmpl, "template", "", "template for -out go-template")
	if !c.parse(fs, args, varGetUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <path>\nUsage: orch %s", varGetUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	v, _, err := client.Variables().Read(c.ctx, fs.Arg(0), m.query())
	if api.IsNotFound(err) {
		return c.fail("Variable not found")
	}
	if err != nil {
		return c.fail("Error retrieving variable: %v", err)
	}
	if item != "" {
		val, ok := v.Items[item]
		if !ok {
			return c.fail("Variable does not contain %q item", item)
		}
		fmt.Fprint(c.out, val)
		return 0
	}
	if out == "" {
		out = "json"
		if isTerminal(c.out) {
			out = "table"
		}
	}
	return c.printVar(v, out, tmpl)
}

const varListUsage = "var list [-out json|table|terse] [-q] [-per-page N] [-page-token T] [-filter EXPR] [<prefix>]"

func (c *cli) varList(args []string) int {
	var m meta
	var out string
	var quiet bool
	var paging pagingFlags
	fs := c.flagSet("var list", &m)
	fs.StringVar(&out, "out", "", "output format: json, table or terse (default table on a terminal, json otherwise)")
	fs.BoolVar(&quiet, "q", false, "print only the paths")
	paging.register(fs)
	if !c.parse(fs, args, varListUsage) {
		return 1
	}
	if fs.NArg() > 1 {
		return c.fail("This command takes at most one argument: <prefix>\nUsage: orch %s", varListUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	vars, qm, err := client.Variables().List(c.ctx, fs.Arg(0), paging.query(&m))
	if err != nil {
		return c.fail("Error retrieving vars: %v", err)
	}
	if quiet {
		out = "terse"
	}
	if out == "" {
		out = "json"
		if isTerminal(c.out) {
			out = "table"
		}
	}
	switch out {
	case "json":
		if vars == nil {
			vars = []*structs.VariableMetadata{}
		}
		return c.printJSON(vars)
	case "terse":
		for _, v := range vars {
			fmt.Fprintln(c.out, v.Path)
		}
	case "table":
		if len(vars) == 0 {
			fmt.Fprintln(c.out, "No matching variables found")
			return 0
		}
		all := m.ns() == "*"
		rows := [][]string{{"Path", "Last Updated"}}
		if all {
			rows[0] = []string{"Namespace", "Path", "Last Updated"}
		}
		for _, v := range vars {
			row := []string{v.Path, formatUnixNano(v.ModifyTime)}
			if all {
				row = append([]string{v.Namespace}, row...)
			}
			rows = append(rows, row)
		}
		printTable(c.out, rows)
	default:
		return c.fail("Invalid -out format %q: use json, table or terse", out)
	}
	if qm.NextToken != "" {
		fmt.Fprintf(c.out, "\nNext page token: %s\n", qm.NextToken)
	}
	return 0
}

const varPurgeUsage = "var purge [-check-index N] <path>"

func (c *cli) varPurge(args []string) int {
	var m meta
	var check checkIndexFlag
	fs := c.flagSet("var purge", &m)
	fs.Var(&check, "check-index", "purge only if the variable's modify index is this")
	if !c.parse(fs, args, varPurgeUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <path>\nUsage: orch %s", varPurgeUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	path := strings.Trim(fs.Arg(0), " /")
	if err := client.Variables().Delete(c.ctx, path, check.v, m.query()); err != nil {
		var ce *api.CASConflictError
		if errors.As(err, &ce) && ce.Current != nil {
			return c.fail("Error purging variable: check-index %s does not match the variable's modify index %d",
				check.String(), ce.Current.ModifyIndex)
		}
		return c.fail("Error purging variable: %v", err)
	}
	fmt.Fprintf(c.out, "Successfully purged variable %q!\n", path)
	return 0
}

const varInitUsage = "var init [-out hcl|json] [-quiet] [<filename>]"

func (c *cli) varInit(args []string) int {
	var out string
	var quiet bool
	fs := c.flagSet("var init", nil)
	fs.StringVar(&out, "out", "hcl", "format: hcl or json")
	fs.BoolVar(&quiet, "quiet", false, "no success message")
	if !c.parse(fs, args, varInitUsage) {
		return 1
	}
	content, name := varSpecExample, "spec.nv.hcl"
	switch out {
	case "hcl":
	case "json":
		content, name = varSpecExampleJSON, "spec.nv.json"
	default:
		return c.fail("Invalid -out format %q: use hcl or json", out)
	}
	if fs.NArg() > 1 {
		return c.fail("This command takes at most one argument: <filename>\nUsage: orch %s", varInitUsage)
	}
	if fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return c.fail("Variable specification file %q already exists", name)
	}
	if err != nil {
		return c.fail("Failed to write %q: %v", name, err)
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return c.fail("Failed to write %q: %v", name, err)
	}
	if !quiet {
		fmt.Fprintf(c.out, "Example variable specification written to %s\n", name)
	}
	return 0
}
