package command

import (
	"flag"
	"fmt"
	"time"

	"github.com/orch-project/orch/structs"
)

type fsFlags = *flag.FlagSet

// tokenFlags are the flags token create and update share.
type tokenFlags struct {
	name, typ         string
	global            bool
	policies, roleIDs multiFlag
	roleNames         multiFlag
	ttl               time.Duration
	asJSON            bool
}

func (tf *tokenFlags) register(fs *flag.FlagSet, create bool) {
	fs.StringVar(&tf.name, "name", "", "token name")
	fs.StringVar(&tf.typ, "type", "client", "token type: client or management")
	fs.BoolVar(&tf.global, "global", false, "replicate the token to all regions")
	fs.Var(&tf.policies, "policy", "policy to attach (repeatable)")
	fs.Var(&tf.roleIDs, "role-id", "ID of a role to attach (repeatable)")
	fs.Var(&tf.roleNames, "role-name", "name of a role to attach (repeatable)")
	if create {
		fs.DurationVar(&tf.ttl, "ttl", 0, "time to live, e.g. 1h (default: never expires)")
	}
	fs.BoolVar(&tf.asJSON, "json", false, "print JSON")
}

func (tf *tokenFlags) roles() []*structs.ACLTokenRoleLink {
	var out []*structs.ACLTokenRoleLink
	for _, id := range tf.roleIDs {
		out = append(out, &structs.ACLTokenRoleLink{ID: id})
	}
	for _, n := range tf.roleNames {
		out = append(out, &structs.ACLTokenRoleLink{Name: n})
	}
	return out
}

const aclTokenCreateUsage = "acl token create [-name N] [-type client|management] [-global] [-policy P]... [-role-id ID]... [-role-name N]... [-ttl D]"

func (c *cli) aclTokenCreate(args []string) int {
	var m meta
	var tf tokenFlags
	fs := c.flagSet("acl token create", &m)
	tf.register(fs, true)
	if !c.parse(fs, args, aclTokenCreateUsage) {
		return 1
	}
	if fs.NArg() != 0 {
		return c.fail("This command takes no arguments\nUsage: orch %s", aclTokenCreateUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	tok, err := client.ACL().UpsertToken(c.ctx, &structs.ACLToken{Name: tf.name, Type: tf.typ, Global: tf.global,
		Policies: tf.policies, Roles: tf.roles(), ExpirationTTL: tf.ttl})
	if err != nil {
		return c.fail("Error creating token: %v", err)
	}
	return c.showToken(tok, tf.asJSON)
}

func (c *cli) showToken(tok *structs.ACLToken, asJSON bool) int {
	if asJSON {
		return c.printJSON(tok)
	}
	c.printToken(tok)
	return 0
}

const aclTokenUpdateUsage = "acl token update [-name N] [-type T] [-policy P]... [-role-id ID]... [-role-name N]... <accessor>"

func (c *cli) aclTokenUpdate(args []string) int {
	var m meta
	var tf tokenFlags
	fs := c.flagSet("acl token update", &m)
	tf.register(fs, false)
	if !c.parse(fs, args, aclTokenUpdateUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <accessor>\nUsage: orch %s", aclTokenUpdateUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	tok, err := client.ACL().Token(c.ctx, fs.Arg(0))
	if err != nil {
		return c.fail("Error fetching token: %v", err)
	}
	if flagSet(fs, "name") {
		tok.Name = tf.name
	}
	if flagSet(fs, "type") {
		tok.Type = tf.typ
	}
	if flagSet(fs, "global") {
		tok.Global = tf.global
	}
	if flagSet(fs, "policy") {
		tok.Policies = tf.policies
	}
	if flagSet(fs, "role-id") || flagSet(fs, "role-name") {
		tok.Roles = tf.roles()
	}
	if tok.IsManagement() {
		tok.Policies, tok.Roles = nil, nil
	}
	out, err := client.ACL().UpsertToken(c.ctx, tok)
	if err != nil {
		return c.fail("Error updating token: %v", err)
	}
	return c.showToken(out, tf.asJSON)
}

func (c *cli) aclTokenList(args []string) int {
	var m meta
	fs := c.flagSet("acl token list", &m)
	asJSON := fs.Bool("json", false, "print JSON")
	if !c.parse(fs, args, "acl token list [-json]") {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	toks, err := client.ACL().Tokens(c.ctx)
	if err != nil {
		return c.fail("Error fetching tokens: %v", err)
	}
	if *asJSON {
		return c.printJSON(toks)
	}
	if len(toks) == 0 {
		fmt.Fprintln(c.out, "No tokens found")
		return 0
	}
	now := time.Now()
	rows := [][]string{{"Name", "Type", "Global", "Accessor ID", "Expired"}}
	for _, t := range toks {
		expired := t.ExpirationTime != nil && !now.Before(*t.ExpirationTime)
		rows = append(rows, []string{t.Name, t.Type, fmt.Sprint(t.Global), t.AccessorID, fmt.Sprint(expired)})
	}
	printTable(c.out, rows)
	return 0
}

func (c *cli) aclTokenInfo(args []string) int {
	var m meta
	var asJSON *bool
	acc, ok := c.oneArg("acl token info", "acl token info [-json] <accessor>", args, &m, func(fs fsFlags) { asJSON = fs.Bool("json", false, "print JSON") })
	if !ok {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	tok, err := client.ACL().Token(c.ctx, acc)
	if err != nil {
		return c.fail("Error fetching token: %v", err)
	}
	return c.showToken(tok, *asJSON)
}

func (c *cli) aclTokenSelf(args []string) int {
	var m meta
	fs := c.flagSet("acl token self", &m)
	asJSON := fs.Bool("json", false, "print JSON")
	if !c.parse(fs, args, "acl token self [-json]") {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	tok, err := client.ACL().TokenSelf(c.ctx)
	if err != nil {
		return c.fail("Error fetching self token: %v", err)
	}
	return c.showToken(tok, *asJSON)
}

func (c *cli) aclTokenDelete(args []string) int {
	var m meta
	acc, ok := c.oneArg("acl token delete", "acl token delete <accessor>", args, &m, nil)
	if !ok {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	if err := client.ACL().DeleteToken(c.ctx, acc); err != nil {
		return c.fail("Error deleting token: %v", err)
	}
	fmt.Fprintf(c.out, "Token %s successfully deleted\n", acc)
	return 0
}
