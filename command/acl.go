package command

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/orch-project/orch/structs"
)

// orch acl ...: Nomad's ACL commands.
func (c *cli) aclCommand(args []string) int {
	if len(args) == 0 {
		return c.usageErr("Missing acl subcommand")
	}
	groups := map[string]map[string]func([]string) int{
		"policy": {"apply": c.aclPolicyApply, "list": c.aclPolicyList, "info": c.aclPolicyInfo, "delete": c.aclPolicyDelete},
		"token": {"create": c.aclTokenCreate, "list": c.aclTokenList, "info": c.aclTokenInfo, "self": c.aclTokenSelf,
			"update": c.aclTokenUpdate, "delete": c.aclTokenDelete},
		"role": {"create": c.aclRoleCreate, "list": c.aclRoleList, "info": c.aclRoleInfo, "update": c.aclRoleUpdate,
			"delete": c.aclRoleDelete},
	}
	if args[0] == "bootstrap" {
		return c.aclBootstrap(args[1:])
	}
	table, ok := groups[args[0]]
	if !ok {
		return c.usageErr("Unknown command %q", "acl "+args[0])
	}
	if len(args) < 2 {
		return c.usageErr("Missing acl %s subcommand", args[0])
	}
	fn, ok := table[args[1]]
	if !ok {
		return c.usageErr("Unknown command %q", "acl "+args[0]+" "+args[1])
	}
	return fn(args[2:])
}

// formatTime is how Nomad's CLI prints token times.
func aclTime(t time.Time) string { return t.UTC().Round(0).String() }

func (c *cli) printToken(t *structs.ACLToken) {
	expiry := "<none>"
	if t.ExpirationTime != nil {
		expiry = aclTime(*t.ExpirationTime)
	}
	kv := [][2]string{
		{"Accessor ID", t.AccessorID}, {"Secret ID", t.SecretID}, {"Name", t.Name}, {"Type", t.Type},
		{"Global", fmt.Sprint(t.Global)}, {"Create Time", aclTime(t.CreateTime)}, {"Expiry Time", expiry},
		{"Create Index", fmt.Sprint(t.CreateIndex)}, {"Modify Index", fmt.Sprint(t.ModifyIndex)},
	}
	if t.IsManagement() {
		printKV(c.out, append(kv, [2]string{"Policies", "n/a"}, [2]string{"Roles", "n/a"}))
		return
	}
	printKV(c.out, append(kv, [2]string{"Policies", "[" + strings.Join(t.Policies, " ") + "]"}))
	fmt.Fprintln(c.out, "\nRoles")
	if len(t.Roles) == 0 {
		fmt.Fprintln(c.out, "<none>")
		return
	}
	rows := [][]string{{"ID", "Name"}}
	for _, r := range t.Roles {
		rows = append(rows, []string{r.ID, r.Name})
	}
	printTable(c.out, rows)
}

const aclBootstrapUsage = "acl bootstrap [-json] [<path to file with the secret> | -]"

func (c *cli) aclBootstrap(args []string) int {
	var m meta
	fs := c.flagSet("acl bootstrap", &m)
	asJSON := fs.Bool("json", false, "print JSON")
	if !c.parse(fs, args, aclBootstrapUsage) {
		return 1
	}
	if fs.NArg() > 1 {
		return c.fail("This command takes at most one argument\nUsage: orch %s", aclBootstrapUsage)
	}
	secret := ""
	if fs.NArg() == 1 {
		b, err := c.readArgFile(fs.Arg(0))
		if err != nil {
			return c.fail("Error reading the bootstrap secret: %v", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	tok, err := client.ACL().Bootstrap(c.ctx, secret)
	if err != nil {
		return c.fail("Error bootstrapping: %v", err)
	}
	if *asJSON {
		return c.printJSON(tok)
	}
	c.printToken(tok)
	return 0
}

// readArgFile reads a file argument, "-" meaning stdin.
func (c *cli) readArgFile(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(c.in, 1<<20))
	}
	return os.ReadFile(path)
}

const aclPolicyApplyUsage = "acl policy apply [-description D] <name> <path | ->"

func (c *cli) aclPolicyApply(args []string) int {
	var m meta
	fs := c.flagSet("acl policy apply", &m)
	desc := fs.String("description", "", "policy description")
	if !c.parse(fs, args, aclPolicyApplyUsage) {
		return 1
	}
	if fs.NArg() != 2 {
		return c.fail("This command takes two arguments: <name> <path>\nUsage: orch %s", aclPolicyApplyUsage)
	}
	rules, err := c.readArgFile(fs.Arg(1))
	if err != nil {
		return c.fail("Error reading policy file: %v", err)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	name := fs.Arg(0)
	if err := client.ACL().UpsertPolicy(c.ctx, &structs.ACLPolicy{Name: name, Description: *desc, Rules: string(rules)}); err != nil {
		return c.fail("Error writing ACL policy: %v", err)
	}
	fmt.Fprintf(c.out, "Successfully wrote %q ACL policy!\n", name)
	return 0
}

func (c *cli) aclPolicyList(args []string) int {
	var m meta
	fs := c.flagSet("acl policy list", &m)
	asJSON := fs.Bool("json", false, "print JSON")
	if !c.parse(fs, args, "acl policy list [-json]") {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	pols, err := client.ACL().Policies(c.ctx)
	if err != nil {
		return c.fail("Error fetching ACL policies: %v", err)
	}
	if *asJSON {
		return c.printJSON(pols)
	}
	if len(pols) == 0 {
		fmt.Fprintln(c.out, "No policies found")
		return 0
	}
	rows := [][]string{{"Name", "Description"}}
	for _, p := range pols {
		rows = append(rows, []string{p.Name, p.Description})
	}
	printTable(c.out, rows)
	return 0
}

// oneArg parses a command taking exactly one argument.
func (c *cli) oneArg(name, usage string, args []string, m *meta, extra func(fsFlags)) (string, bool) {
	fs := c.flagSet(name, m)
	if extra != nil {
		extra(fs)
	}
	if !c.parse(fs, args, usage) {
		return "", false
	}
	if fs.NArg() != 1 {
		c.fail("This command takes one argument\nUsage: orch %s", usage)
		return "", false
	}
	return fs.Arg(0), true
}

func (c *cli) aclPolicyInfo(args []string) int {
	var m meta
	var asJSON *bool
	name, ok := c.oneArg("acl policy info", "acl policy info [-json] <name>", args, &m, func(fs fsFlags) { asJSON = fs.Bool("json", false, "print JSON") })
	if !ok {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	p, err := client.ACL().Policy(c.ctx, name)
	if err != nil {
		return c.fail("Error fetching ACL policy: %v", err)
	}
	if *asJSON {
		return c.printJSON(p)
	}
	printKV(c.out, [][2]string{{"Name", p.Name}, {"Description", orNone(p.Description)},
		{"CreateIndex", fmt.Sprint(p.CreateIndex)}, {"ModifyIndex", fmt.Sprint(p.ModifyIndex)}})
	fmt.Fprintf(c.out, "\nRules\n\n%s\n", strings.TrimRight(p.Rules, "\n"))
	return 0
}

func (c *cli) aclPolicyDelete(args []string) int {
	var m meta
	name, ok := c.oneArg("acl policy delete", "acl policy delete <name>", args, &m, nil)
	if !ok {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	if err := client.ACL().DeletePolicy(c.ctx, name); err != nil {
		return c.fail("Error deleting ACL policy: %v", err)
	}
	fmt.Fprintf(c.out, "Successfully deleted %q ACL policy!\n", name)
	return 0
}
