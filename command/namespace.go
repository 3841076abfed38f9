package command

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-project/orch/structs"
)

func (c *cli) namespaceCommands() map[string]func([]string) int {
	return map[string]func([]string) int{
		"apply": c.namespaceApply, "list": c.namespaceList, "status": c.namespaceStatus,
		"inspect": c.namespaceInspect, "delete": c.namespaceDelete,
	}
}

const namespaceApplyUsage = "namespace apply [-description D] [-json] <namespace | spec file>"

// namespaceApply creates or updates a namespace from flags or from a
// specification file (HCL, or JSON with -json), as Nomad's CLI does.
func (c *cli) namespaceApply(args []string) int {
	var m meta
	fs := c.flagSet("namespace apply", &m)
	description := fs.String("description", "", "namespace description")
	isJSON := fs.Bool("json", false, "the specification file is JSON")
	if !c.parse(fs, args, namespaceApplyUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <namespace | spec file>\nUsage: orch %s", namespaceApplyUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	arg := fs.Arg(0)
	var ns *structs.Namespace
	if fi, statErr := os.Stat(arg); statErr == nil && !fi.IsDir() {
		src, err := os.ReadFile(arg)
		if err != nil {
			return c.fail("Error reading %s: %v", arg, err)
		}
		if ns, err = parseNamespaceSpec(arg, src, *isJSON); err != nil {
			return c.fail("Error parsing namespace specification: %v", err)
		}
	} else {
		ns, err = client.Namespaces().Info(c.ctx, arg)
		if err != nil {
			ns = &structs.Namespace{Name: arg} // a new namespace
		}
		if flagSet(fs, "description") {
			ns.Description = *description
		}
	}
	if err := client.Namespaces().Register(c.ctx, ns); err != nil {
		return c.fail("Error applying namespace: %v", err)
	}
	fmt.Fprintf(c.out, "Successfully applied namespace %q!\n", ns.Name)
	return 0
}

// namespaceSpec is Nomad's namespace specification file.
type namespaceSpec struct {
	Name         string       `hcl:"name"`
	Description  *string      `hcl:"description"`
	Quota        *string      `hcl:"quota"`
	Capabilities *capsBlock   `hcl:"capabilities,block"`
	Meta         *remainBlock `hcl:"meta,block"`
	NodePool     *remainBlock `hcl:"node_pool_config,block"`
	Vault        *remainBlock `hcl:"vault,block"`
	Consul       *remainBlock `hcl:"consul,block"`
}

type capsBlock struct {
	EnabledTaskDrivers   []string `hcl:"enabled_task_drivers,optional"`
	DisabledTaskDrivers  []string `hcl:"disabled_task_drivers,optional"`
	EnabledNetworkModes  []string `hcl:"enabled_network_modes,optional"`
	DisabledNetworkModes []string `hcl:"disabled_network_modes,optional"`
}

type remainBlock struct {
	Body hcl.Body `hcl:",remain"`
}

func parseNamespaceSpec(path string, src []byte, isJSON bool) (*structs.Namespace, error) {
	p := hclparse.NewParser()
	var f *hcl.File
	var diags hcl.Diagnostics
	if isJSON || strings.HasSuffix(path, ".json") {
		f, diags = p.ParseJSON(src, path)
	} else {
		f, diags = p.ParseHCL(src, path)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	var spec namespaceSpec
	if diags := gohcl.DecodeBody(f.Body, nil, &spec); diags.HasErrors() {
		return nil, diags
	}
	ns := &structs.Namespace{Name: spec.Name}
	if spec.Description != nil {
		ns.Description = *spec.Description
	}
	if spec.Quota != nil {
		ns.Quota = *spec.Quota // the server refuses it with its reason
	}
	if spec.NodePool != nil || spec.Vault != nil || spec.Consul != nil {
		return nil, fmt.Errorf("node_pool_config, vault and consul blocks are not supported")
	}
	if cb := spec.Capabilities; cb != nil {
		ns.Capabilities = &structs.NamespaceCapabilities{
			EnabledTaskDrivers: cb.EnabledTaskDrivers, DisabledTaskDrivers: cb.DisabledTaskDrivers,
			EnabledNetworkModes: cb.EnabledNetworkModes, DisabledNetworkModes: cb.DisabledNetworkModes,
		}
	}
	if spec.Meta != nil {
		attrs, diags := spec.Meta.Body.JustAttributes()
		if diags.HasErrors() {
			return nil, diags
		}
		ns.Meta = map[string]string{}
		for k, a := range attrs {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() || !v.Type().Equals(cty.String) {
				return nil, fmt.Errorf("%s: meta values must be strings", a.Range)
			}
			ns.Meta[k] = v.AsString()
		}
	}
	return ns, nil
}

const namespaceListUsage = "namespace list [-json]"

func (c *cli) namespaceList(args []string) int {
	var m meta
	fs := c.flagSet("namespace list", &m)
	asJSON := fs.Bool("json", false, "print JSON")
	if !c.parse(fs, args, namespaceListUsage) {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	nss, err := client.Namespaces().List(c.ctx, "")
	if err != nil {
		return c.fail("Error retrieving namespaces: %v", err)
	}
	if *asJSON {
		return c.printJSON(nss)
	}
	if len(nss) == 0 {
		fmt.Fprintln(c.out, "No namespaces found")
		return 0
	}
	rows := [][]string{{"Name", "Description"}}
	for _, ns := range nss {
		rows = append(rows, []string{ns.Name, ns.Description})
	}
	printTable(c.out, rows)
	return 0
}

const namespaceStatusUsage = "namespace status [-json] <namespace>"

func (c *cli) namespaceStatus(args []string) int {
	var m meta
	fs := c.flagSet("namespace status", &m)
	asJSON := fs.Bool("json", false, "print JSON")
	if !c.parse(fs, args, namespaceStatusUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <namespace>\nUsage: orch %s", namespaceStatusUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	ns, err := client.Namespaces().Info(c.ctx, fs.Arg(0))
	if err != nil {
		return c.fail("Error retrieving namespace: %v", err)
	}
	if *asJSON {
		return c.printJSON(ns)
	}
	kv := [][2]string{{"Name", ns.Name}, {"Description", ns.Description}, {"Quota", orNone(ns.Quota)}}
	if caps := ns.Capabilities; caps != nil {
		kv = append(kv,
			[2]string{"EnabledDrivers", strings.Join(caps.EnabledTaskDrivers, ",")},
			[2]string{"DisabledDrivers", strings.Join(caps.DisabledTaskDrivers, ",")},
			[2]string{"EnabledNetworkModes", strings.Join(caps.EnabledNetworkModes, ",")},
			[2]string{"DisabledNetworkModes", strings.Join(caps.DisabledNetworkModes, ",")})
	}
	printKV(c.out, kv)
	if len(ns.Meta) > 0 {
		fmt.Fprintln(c.out, "\nMetadata")
		printKV(c.out, sortedKV(ns.Meta))
	}
	return 0
}

const namespaceInspectUsage = "namespace inspect <namespace>"

func (c *cli) namespaceInspect(args []string) int {
	var m meta
	fs := c.flagSet("namespace inspect", &m)
	if !c.parse(fs, args, namespaceInspectUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <namespace>\nUsage: orch %s", namespaceInspectUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	ns, err := client.Namespaces().Info(c.ctx, fs.Arg(0))
	if err != nil {
		return c.fail("Error retrieving namespace: %v", err)
	}
	return c.printJSON(ns)
}

const namespaceDeleteUsage = "namespace delete <namespace>"

func (c *cli) namespaceDelete(args []string) int {
	var m meta
	fs := c.flagSet("namespace delete", &m)
	if !c.parse(fs, args, namespaceDeleteUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <namespace>\nUsage: orch %s", namespaceDeleteUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	if err := client.Namespaces().Delete(c.ctx, fs.Arg(0)); err != nil {
		return c.fail("Error deleting namespace: %v", err)
	}
	fmt.Fprintf(c.out, "Successfully deleted namespace %q!\n", fs.Arg(0))
	return 0
}
