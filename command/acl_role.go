package command

import (
	"fmt"
	"strings"

	"github.com/orch-project/orch/structs"
)

func (c *cli) printRole(r *structs.ACLRole) {
	printKV(c.out, [][2]string{{"ID", r.ID}, {"Name", r.Name}, {"Description", orNone(r.Description)},
		{"Policies", strings.Join(r.PolicyNames(), ",")},
		{"Create Index", fmt.Sprint(r.CreateIndex)}, {"Modify Index", fmt.Sprint(r.ModifyIndex)}})
}

func policyLinks(names []string) []*structs.ACLRolePolicyLink {
	out := make([]*structs.ACLRolePolicyLink, 0, len(names))
	for _, n := range names {
		out = append(out, &structs.ACLRolePolicyLink{Name: n})
	}
	return out
}

const aclRoleCreateUsage = "acl role create -name N [-description D] -policy P [-policy P]..."

func (c *cli) aclRoleCreate(args []string) int {
	var m meta
	fs := c.flagSet("acl role create", &m)
	name := fs.String("name", "", "role name")
	desc := fs.String("description", "", "role description")
	asJSON := fs.Bool("json", false, "print JSON")
	var policies multiFlag
	fs.Var(&policies, "policy", "policy to link (repeatable)")
	if !c.parse(fs, args, aclRoleCreateUsage) {
		return 1
	}
	if fs.NArg() != 0 || *name == "" || len(policies) == 0 {
		return c.fail("A name and at least one policy are required, and no arguments\nUsage: orch %s", aclRoleCreateUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	role, err := client.ACL().UpsertRole(c.ctx, &structs.ACLRole{Name: *name, Description: *desc, Policies: policyLinks(policies)})
	if err != nil {
		return c.fail("Error creating ACL role: %v", err)
	}
	return c.showRole(role, *asJSON)
}

func (c *cli) showRole(r *structs.ACLRole, asJSON bool) int {
	if asJSON {
		return c.printJSON(r)
	}
	c.printRole(r)
	return 0
}

const aclRoleUpdateUsage = "acl role update [-name N] [-description D] [-policy P]... [-no-merge] <id>"

func (c *cli) aclRoleUpdate(args []string) int {
	var m meta
	fs := c.flagSet("acl role update", &m)
	name := fs.String("name", "", "new name")
	desc := fs.String("description", "", "new description")
	noMerge := fs.Bool("no-merge", false, "replace the role's policies and fields rather than merging")
	asJSON := fs.Bool("json", false, "print JSON")
	var policies multiFlag
	fs.Var(&policies, "policy", "policy to link (repeatable)")
	if !c.parse(fs, args, aclRoleUpdateUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <id>\nUsage: orch %s", aclRoleUpdateUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	role, err := client.ACL().Role(c.ctx, fs.Arg(0), false)
	if err != nil {
		return c.fail("Error fetching ACL role: %v", err)
	}
	if *noMerge {
		role = &structs.ACLRole{ID: role.ID, Name: *name, Description: *desc, Policies: policyLinks(policies)}
	} else {
		if flagSet(fs, "name") {
			role.Name = *name
		}
		if flagSet(fs, "description") {
			role.Description = *desc
		}
		have := map[string]bool{}
		for _, n := range role.PolicyNames() {
			have[n] = true
		}
		for _, p := range policies {
			if !have[p] {
				role.Policies = append(role.Policies, &structs.ACLRolePolicyLink{Name: p})
			}
		}
	}
	out, err := client.ACL().UpsertRole(c.ctx, role)
	if err != nil {
		return c.fail("Error updating ACL role: %v", err)
	}
	return c.showRole(out, *asJSON)
}

func (c *cli) aclRoleList(args []string) int {
	var m meta
	fs := c.flagSet("acl role list", &m)
	asJSON := fs.Bool("json", false, "print JSON")
	if !c.parse(fs, args, "acl role list [-json]") {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	roles, err := client.ACL().Roles(c.ctx)
	if err != nil {
		return c.fail("Error listing ACL roles: %v", err)
	}
	if *asJSON {
		return c.printJSON(roles)
	}
	if len(roles) == 0 {
		fmt.Fprintln(c.out, "No ACL roles found")
		return 0
	}
	rows := [][]string{{"ID", "Name", "Description", "Policies"}}
	for _, r := range roles {
		rows = append(rows, []string{r.ID, r.Name, orNone(r.Description), strings.Join(r.PolicyNames(), ",")})
	}
	printTable(c.out, rows)
	return 0
}

func (c *cli) aclRoleInfo(args []string) int {
	var m meta
	var byName, asJSON *bool
	id, ok := c.oneArg("acl role info", "acl role info [-by-name] [-json] <id | name>", args, &m, func(fs fsFlags) {
		byName = fs.Bool("by-name", false, "look the role up by name")
		asJSON = fs.Bool("json", false, "print JSON")
	})
	if !ok {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	role, err := client.ACL().Role(c.ctx, id, *byName)
	if err != nil {
		return c.fail("Error reading ACL role: %v", err)
	}
	return c.showRole(role, *asJSON)
}

func (c *cli) aclRoleDelete(args []string) int {
	var m meta
	id, ok := c.oneArg("acl role delete", "acl role delete <id>", args, &m, nil)
	if !ok {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	if err := client.ACL().DeleteRole(c.ctx, id); err != nil {
		return c.fail("Error deleting ACL role: %v", err)
	}
	fmt.Fprintf(c.out, "ACL role %s successfully deleted\n", id)
	return 0
}
