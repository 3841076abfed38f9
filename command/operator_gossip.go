package command

import (
	"fmt"
	"sort"

	"github.com/orch-project/orch/gossip"
)

const gossipKeyringUsage = "operator gossip keyring [-list | -install KEY | -use KEY | -remove KEY] | operator gossip keyring generate"

// operatorGossip is `orch operator gossip keyring ...`, Nomad's gossip key
// management: the change reaches every live agent of the pool.
func (c *cli) operatorGossip(args []string) int {
	if len(args) == 0 || args[0] != "keyring" {
		return c.fail("Usage: orch %s", gossipKeyringUsage)
	}
	args = args[1:]
	if len(args) > 0 && args[0] == "generate" {
		key, err := gossip.GenerateKey()
		if err != nil {
			return c.fail("Error generating key: %v", err)
		}
		fmt.Fprintln(c.out, key)
		return 0
	}
	var m meta
	fs := c.flagSet("operator gossip keyring", &m)
	list := fs.Bool("list", false, "list the installed keys")
	install := fs.String("install", "", "install a new key on every agent")
	use := fs.String("use", "", "make an installed key the one every agent encrypts with")
	remove := fs.String("remove", "", "remove a key from every agent")
	if !c.parse(fs, args, gossipKeyringUsage) {
		return 1
	}
	n := 0
	for _, set := range []bool{*list, *install != "", *use != "", *remove != ""} {
		if set {
			n++
		}
	}
	if n != 1 || fs.NArg() != 0 {
		return c.fail("Exactly one of -list, -install, -use or -remove is required\nUsage: orch %s", gossipKeyringUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	if *list {
		fmt.Fprintln(c.out, "==> Gathering installed encryption keys...")
		resp, err := client.Agent().GossipKeys(c.ctx)
		if err != nil {
			return c.fail("error: %v", err)
		}
		keys := make([]string, 0, len(resp.Keys))
		for k := range resp.Keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		rows := [][]string{{"Key", "Agents"}}
		for _, k := range keys {
			rows = append(rows, []string{k, fmt.Sprintf("%d/%d", resp.Keys[k], resp.NumNodes)})
		}
		fmt.Fprintln(c.out)
		printTable(c.out, rows)
		return 0
	}
	op, key, what := "install", *install, "Installing new gossip encryption key..."
	switch {
	case *use != "":
		op, key, what = "use", *use, "Changing primary gossip encryption key..."
	case *remove != "":
		op, key, what = "remove", *remove, "Removing gossip encryption key..."
	}
	if _, err := gossip.DecodeKey(key); err != nil {
		return c.fail("error: %v", err)
	}
	fmt.Fprintf(c.out, "==> %s\n", what)
	if _, err := client.Agent().ChangeGossipKey(c.ctx, op, key); err != nil {
		return c.fail("error: %v", err)
	}
	return 0
}
