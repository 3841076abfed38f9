package command

import (
	"fmt"
	"time"

	"github.com/orch-project/orch/structs"
)

// orch operator root keyring list|rotate|remove: the cluster keyring's
// root keys, as Nomad's commands of the same names.

func (c *cli) operatorRoot(args []string) int {
	if len(args) < 2 || args[0] != "keyring" {
		return c.usageErr("Usage: orch operator root keyring list|rotate|remove")
	}
	switch args[1] {
	case "list":
		return c.keyringList(args[2:])
	case "rotate":
		return c.keyringRotate(args[2:])
	case "remove":
		return c.keyringRemove(args[2:])
	}
	return c.usageErr("Unknown command %q", "operator root keyring "+args[1])
}

func (c *cli) printKeys(keys []*structs.RootKeyMeta, verbose bool) {
	rows := [][]string{{"Key", "State", "Create Time", "Publish Time"}}
	for _, k := range keys {
		id := k.KeyID
		if !verbose {
			id = shortID(id)
		}
		pub := "<none>"
		if k.PublishTime > 0 {
			pub = time.Unix(0, k.PublishTime).UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{id, k.State, time.Unix(0, k.CreateTime).UTC().Format(time.RFC3339), pub})
	}
	printTable(c.out, rows)
}

const keyringListUsage = "operator root keyring list [-verbose] [-json]"

func (c *cli) keyringList(args []string) int {
	var m meta
	var verbose, asJSON bool
	fs := c.flagSet("operator root keyring list", &m)
	fs.BoolVar(&verbose, "verbose", false, "full key IDs")
	fs.BoolVar(&asJSON, "json", false, "output JSON")
	if !c.parse(fs, args, keyringListUsage) {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	keys, err := client.Keyring().List(c.ctx)
	if err != nil {
		return c.fail("error: %v", err)
	}
	if asJSON {
		return c.printJSON(keys)
	}
	c.printKeys(keys, verbose)
	return 0
}

const keyringRotateUsage = "operator root keyring rotate [-full] [-now | -prepublish D] [-verbose]"

func (c *cli) keyringRotate(args []string) int {
	var m meta
	var full, now, verbose bool
	var prepublish time.Duration
	fs := c.flagSet("operator root keyring rotate", &m)
	fs.BoolVar(&full, "full", false, "re-encrypt every variable with the new key, in the background")
	fs.BoolVar(&now, "now", false, "activate the new key at once (the default)")
	fs.DurationVar(&prepublish, "prepublish", 0, "publish the new key now and activate it after this long")
	fs.BoolVar(&verbose, "verbose", false, "full key IDs")
	if !c.parse(fs, args, keyringRotateUsage) {
		return 1
	}
	if now && prepublish > 0 {
		return c.fail("Only one of -now or -prepublish may be set")
	}
	if full && prepublish > 0 {
		return c.fail("A -full rotation cannot be prepublished")
	}
	var publishTime int64
	if prepublish > 0 {
		publishTime = time.Now().Add(prepublish).UnixNano()
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	key, err := client.Keyring().Rotate(c.ctx, full, publishTime)
	if err != nil {
		return c.fail("error: %v", err)
	}
	c.printKeys([]*structs.RootKeyMeta{key}, verbose)
	return 0
}

const keyringRemoveUsage = "operator root keyring remove [-force] <key ID>"

func (c *cli) keyringRemove(args []string) int {
	var m meta
	var force bool
	fs := c.flagSet("operator root keyring remove", &m)
	fs.BoolVar(&force, "force", false, "remove the key even if variables are still encrypted with it")
	if !c.parse(fs, args, keyringRemoveUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <key ID>\nUsage: orch %s", keyringRemoveUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	id := fs.Arg(0)
	// Accept a short ID as the list prints it.
	if keys, err := client.Keyring().List(c.ctx); err == nil {
		var match []string
		for _, k := range keys {
			if len(id) < len(k.KeyID) && k.KeyID[:len(id)] == id || k.KeyID == id {
				match = append(match, k.KeyID)
			}
		}
		if len(match) == 1 {
			id = match[0]
		}
	}
	if err := client.Keyring().Delete(c.ctx, id, force); err != nil {
		return c.fail("error: %v", err)
	}
	fmt.Fprintf(c.out, "Removed encryption key %s\n", id)
	return 0
}
