package command

import (
	"errors"
	"fmt"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

// errReported means the problem was already printed.
var errReported = errors.New("reported")

// resolveJob turns a job ID prefix into one job ID, like Nomad: an exact
// match wins, several matches are listed.
func (c *cli) resolveJob(client *api.Client, m *meta, prefix string) (string, error) {
	jobs, _, err := client.Jobs().List(c.ctx, prefix, m.query())
	if err != nil {
		return "", fmt.Errorf("Error querying jobs: %w", err)
	}
	var ids []string
	for _, j := range jobs {
		if j.ID == prefix {
			return j.ID, nil
		}
		ids = append(ids, j.ID)
	}
	switch len(jobs) {
	case 0:
		return "", fmt.Errorf("No job(s) with prefix or id %q found", prefix)
	case 1:
		return jobs[0].ID, nil
	}
	rows := [][]string{{"ID", "Type", "Priority", "Status", "Submit Date"}}
	for _, j := range jobs {
		rows = append(rows, []string{j.ID, j.Type, fmt.Sprint(j.Priority), j.Status, formatUnixNano(j.SubmitTime)})
	}
	fmt.Fprintf(c.err, "Prefix matched multiple jobs\n\n")
	printTable(c.err, rows)
	return "", errReported
}

// resolveAlloc turns an allocation ID prefix into one allocation ID.
func (c *cli) resolveAlloc(client *api.Client, m *meta, prefix string) (string, error) {
	q := m.query()
	if m.namespace == "" {
		q.Namespace = "*"
	}
	allocs, _, err := client.Allocations().List(c.ctx, prefix, q)
	if err != nil {
		return "", fmt.Errorf("Error querying allocations: %w", err)
	}
	for _, a := range allocs {
		if a.ID == prefix {
			return a.ID, nil
		}
	}
	switch len(allocs) {
	case 0:
		return "", fmt.Errorf("No allocation(s) with prefix or id %q found", prefix)
	case 1:
		return allocs[0].ID, nil
	}
	fmt.Fprintf(c.err, "Prefix matched multiple allocations\n\n")
	printTable(c.err, allocRows(allocs))
	return "", errReported
}

// lookupAlloc connects to the agent, resolves an allocation ID prefix and
// reads the whole allocation: the start of every alloc subcommand.
func (c *cli) lookupAlloc(m *meta, prefix string) (*api.Client, *structs.Allocation, error) {
	client, err := m.client()
	if err != nil {
		return nil, nil, fmt.Errorf("Error initializing client: %w", err)
	}
	id, err := c.resolveAlloc(client, m, prefix)
	if err != nil {
		return nil, nil, err
	}
	alloc, _, err := client.Allocations().Info(c.ctx, id, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("Error querying allocation: %w", err)
	}
	return client, alloc, nil
}

// resolveNode turns a node ID prefix into one node ID.
func (c *cli) resolveNode(client *api.Client, prefix string) (string, error) {
	nodes, _, err := client.Nodes().List(c.ctx, prefix, nil)
	if err != nil {
		return "", fmt.Errorf("Error querying nodes: %w", err)
	}
	for _, n := range nodes {
		if n.ID == prefix {
			return n.ID, nil
		}
	}
	switch len(nodes) {
	case 0:
		return "", fmt.Errorf("No node(s) with prefix %q found", prefix)
	case 1:
		return nodes[0].ID, nil
	}
	fmt.Fprintf(c.err, "Prefix matched multiple nodes\n\n")
	printTable(c.err, nodeRows(nodes))
	return "", errReported
}

// report prints err unless it was already reported, and returns 1.
func (c *cli) report(err error) int {
	if !errors.Is(err, errReported) {
		fmt.Fprintln(c.err, err)
	}
	return 1
}

func allocRows(allocs []*structs.AllocListStub) [][]string {
	return allocRowsAt(allocs, nowFunc())
}
