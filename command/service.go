package command

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/orch-project/orch/api"

	"github.com/orch-project/orch/structs"
)

// The service commands: orch service list|info|delete, as Nomad's.

func (c *cli) serviceCommands() map[string]func([]string) int {
	return map[string]func([]string) int{"list": c.serviceList, "info": c.serviceInfo, "delete": c.serviceDelete}
}

// outputFlags are the -json and -t flags of Nomad's read commands.
type outputFlags struct {
	json bool
	tmpl string
}

// pagingFlags are Nomad's -per-page, -page-token and -filter.
type pagingFlags struct {
	perPage   int
	pageToken string
	filter    string
}

func (p *pagingFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&p.perPage, "per-page", 0, "results per page")
	fs.StringVar(&p.pageToken, "page-token", "", "where to start")
	fs.StringVar(&p.filter, "filter", "", "filter expression")
}

// query returns m's query options with the paging parameters.
func (p *pagingFlags) query(m *meta) *api.QueryOptions {
	q := m.query()
	q.Params = map[string]string{}
	if p.perPage > 0 {
		q.Params["per_page"] = strconv.Itoa(p.perPage)
	}
	if p.pageToken != "" {
		q.Params["next_token"] = p.pageToken
	}
	if p.filter != "" {
		q.Params["filter"] = p.filter
	}
	return q
}

// render prints v as JSON or through the template when one was asked
// for; it reports whether it did.
func (c *cli) render(o *outputFlags, v any) (int, bool) {
	switch {
	case o.json && o.tmpl != "":
		return c.fail("Both json and template formatting are not allowed"), true
	case o.json:
		return c.printJSON(v), true
	case o.tmpl != "":
		t, err := template.New("out").Parse(o.tmpl)
		if err != nil {
			return c.fail("Error parsing template: %v", err), true
		}
		if err := t.Execute(c.out, v); err != nil {
			return c.fail("Error executing template: %v", err), true
		}
		return 0, true
	}
	return 0, false
}

const serviceListUsage = "service list [-json] [-t <template>]"

func (c *cli) serviceList(args []string) int {
	var m meta
	var o outputFlags
	fs := c.flagSet("service list", &m)
	fs.BoolVar(&o.json, "json", false, "output JSON")
	fs.StringVar(&o.tmpl, "t", "", "format with a Go template")
	if !c.parse(fs, args, serviceListUsage) {
		return 1
	}
	if fs.NArg() != 0 {
		return c.fail("This command takes no arguments\nUsage: orch %s", serviceListUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	list, _, err := client.Services().List(c.ctx, m.query())
	if err != nil {
		return c.fail("Error listing service registrations: %v", err)
	}
	if code, done := c.render(&o, list); done {
		return code
	}
	if len(list) == 0 {
		fmt.Fprintln(c.out, "No service registrations found")
		return 0
	}
	all := m.ns() == "*"
	rows := [][]string{{"Service Name", "Tags"}}
	if all {
		rows[0] = []string{"Service Name", "Namespace", "Tags"}
	}
	for _, ns := range list {
		for _, s := range ns.Services {
			tags := "[" + strings.Join(s.Tags, ",") + "]"
			if all {
				rows = append(rows, []string{s.ServiceName, ns.Namespace, tags})
			} else {
				rows = append(rows, []string{s.ServiceName, tags})
			}
		}
	}
	printTable(c.out, rows)
	return 0
}

const serviceInfoUsage = "service info [-json] [-t <template>] [-verbose] [-per-page N] [-page-token T] [-filter EXPR] <service_name>"

func (c *cli) serviceInfo(args []string) int {
	var m meta
	var o outputFlags
	var verbose bool
	var paging pagingFlags
	fs := c.flagSet("service info", &m)
	fs.BoolVar(&o.json, "json", false, "output JSON")
	fs.StringVar(&o.tmpl, "t", "", "format with a Go template")
	fs.BoolVar(&verbose, "verbose", false, "full information")
	paging.register(fs)
	if !c.parse(fs, args, serviceInfoUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <service_name>\nUsage: orch %s", serviceInfoUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	regs, _, err := client.Services().Get(c.ctx, fs.Arg(0), paging.query(&m))
	if err != nil {
		return c.fail("Error listing service registrations: %v", err)
	}
	if code, done := c.render(&o, regs); done {
		return code
	}
	if len(regs) == 0 {
		fmt.Fprintln(c.out, "No service registrations found")
		return 0
	}
	if verbose {
		for i, r := range regs {
			if i > 0 {
				fmt.Fprintln(c.out)
			}
			printKV(c.out, serviceKV(r))
		}
		return 0
	}
	rows := [][]string{{"Job ID", "Address", "Tags", "Node ID", "Alloc ID"}}
	for _, r := range regs {
		rows = append(rows, []string{r.JobID, fmt.Sprintf("%s:%d", r.Address, r.Port),
			"[" + strings.Join(r.Tags, ",") + "]", shortID(r.NodeID), shortID(r.AllocID)})
	}
	printTable(c.out, rows)
	return 0
}

func serviceKV(r *structs.ServiceRegistration) [][2]string {
	kv := [][2]string{
		{"ID", r.ID}, {"Service Name", r.ServiceName}, {"Namespace", r.Namespace}, {"Job ID", r.JobID},
		{"Alloc ID", r.AllocID}, {"Node ID", r.NodeID}, {"Datacenter", r.Datacenter},
		{"Address", fmt.Sprintf("%s:%d", r.Address, r.Port)}, {"Tags", "[" + strings.Join(r.Tags, ",") + "]"},
	}
	if r.Status != "" {
		// orch's addition: the worst result of the instance's checks.
		kv = append(kv, [2]string{"Health", r.Status})
	}
	return kv
}

const serviceDeleteUsage = "service delete <service_name> <service_id>"

func (c *cli) serviceDelete(args []string) int {
	var m meta
	fs := c.flagSet("service delete", &m)
	if !c.parse(fs, args, serviceDeleteUsage) {
		return 1
	}
	if fs.NArg() != 2 {
		return c.fail("This command takes two arguments: <service_name> and <service_id>\nUsage: orch %s", serviceDeleteUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	if err := client.Services().Delete(c.ctx, fs.Arg(0), fs.Arg(1), m.query()); err != nil {
		return c.fail("Error deleting service registration: %v", err)
	}
	fmt.Fprintln(c.out, "Successfully deleted service registration")
	return 0
}
