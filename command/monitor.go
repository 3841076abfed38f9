package command

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

// monitor follows an evaluation to its end like Nomad's CLI: it prints
// status changes and placements, and returns 2 when placement failed.
func (c *cli) monitor(client *api.Client, evalID string) int {
	ts := func() string { return time.Now().Local().Format(time.RFC3339) }
	fmt.Fprintf(c.out, "==> %s: Monitoring evaluation %q\n", ts(), shortID(evalID))
	seenAllocs := map[string]bool{}
	status := ""
	triggered, inDeployment := false, false
	var waitIndex uint64
	notFoundUntil := time.Now().Add(5 * time.Second)
	for {
		eval, qm, err := client.Evaluations().Info(c.ctx, evalID,
			&api.QueryOptions{WaitIndex: waitIndex, WaitTime: 30 * time.Second})
		if err != nil {
			if c.ctx.Err() != nil {
				return 1
			}
			// A follower may not have the eval yet right after the write.
			if api.IsNotFound(err) && time.Now().Before(notFoundUntil) {
				select {
				case <-time.After(200 * time.Millisecond):
				case <-c.ctx.Done():
					return 1
				}
				continue
			}
			fmt.Fprintf(c.err, "Error reading evaluation: %v\n", err)
			return 1
		}
		waitIndex = qm.LastIndex
		if !triggered {
			triggered = true
			switch {
			case eval.JobID != "":
				fmt.Fprintf(c.out, "    %s: Evaluation triggered by job %q\n", ts(), eval.JobID)
			case eval.NodeID != "":
				fmt.Fprintf(c.out, "    %s: Evaluation triggered by node %q\n", ts(), shortID(eval.NodeID))
			}
		}
		if eval.DeploymentID != "" && !inDeployment {
			inDeployment = true
			fmt.Fprintf(c.out, "    %s: Evaluation within deployment: %q\n", ts(), shortID(eval.DeploymentID))
		}
		allocs, _, err := client.Evaluations().Allocations(c.ctx, evalID, nil)
		if err != nil {
			fmt.Fprintf(c.err, "Error reading allocations of evaluation: %v\n", err)
			return 1
		}
		sort.Slice(allocs, func(i, j int) bool { return allocs[i].Name < allocs[j].Name })
		for _, a := range allocs {
			if seenAllocs[a.ID] {
				continue
			}
			seenAllocs[a.ID] = true
			fmt.Fprintf(c.out, "    %s: Allocation %q created: node %q, group %q\n",
				ts(), shortID(a.ID), shortID(a.NodeID), a.TaskGroup)
		}
		if eval.Status != status {
			if status != "" {
				fmt.Fprintf(c.out, "    %s: Evaluation status changed: %q -> %q\n", ts(), status, eval.Status)
			}
			status = eval.Status
		}
		if !eval.Terminal() {
			continue
		}
		if eval.NextEval != "" && eval.Status != structs.EvalStatusComplete {
			fmt.Fprintf(c.out, "    %s: Monitoring next evaluation %q\n", ts(), shortID(eval.NextEval))
			evalID, status, waitIndex, triggered = eval.NextEval, "", 0, true
			continue
		}
		return c.finish(eval, ts)
	}
}

func (c *cli) finish(eval *structs.Evaluation, ts func() string) int {
	if len(eval.FailedTGAllocs) == 0 {
		fmt.Fprintf(c.out, "==> %s: Evaluation %q finished with status %q\n", ts(), shortID(eval.ID), eval.Status)
		if eval.Status == structs.EvalStatusFailed {
			return 2
		}
		return 0
	}
	fmt.Fprintf(c.out, "==> %s: Evaluation %q finished with status %q but failed to place all allocations:\n",
		ts(), shortID(eval.ID), eval.Status)
	groups := make([]string, 0, len(eval.FailedTGAllocs))
	for g := range eval.FailedTGAllocs {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		m := eval.FailedTGAllocs[g]
		n := 1 + m.CoalescedFailures
		noun := "allocation"
		if n > 1 {
			noun += "s"
		}
		fmt.Fprintf(c.out, "    %s: Task Group %q (failed to place %d %s):\n", ts(), g, n, noun)
		for _, line := range metricReasons(m) {
			fmt.Fprintf(c.out, "      * %s\n", line)
		}
	}
	if eval.BlockedEval != "" {
		fmt.Fprintf(c.out, "    %s: Evaluation %q waiting for additional capacity to place remainder\n",
			ts(), shortID(eval.BlockedEval))
	}
	return 2
}

// metricReasons explains an AllocMetric the way Nomad's CLI does.
func metricReasons(m *structs.AllocMetric) []string {
	var out []string
	if m.NodesEvaluated == 0 {
		out = append(out, "No nodes were eligible for evaluation")
	}
	for _, k := range sortedKeys(m.NodesAvailable) {
		if m.NodesAvailable[k] == 0 {
			out = append(out, fmt.Sprintf("No nodes are available in datacenter %q", k))
		}
	}
	for _, k := range sortedKeys(m.ClassFiltered) {
		out = append(out, fmt.Sprintf("Class %q: %d nodes excluded by filter", k, m.ClassFiltered[k]))
	}
	for _, k := range sortedKeys(m.ConstraintFiltered) {
		out = append(out, fmt.Sprintf("Constraint %q: %d nodes excluded by filter", k, m.ConstraintFiltered[k]))
	}
	if m.NodesExhausted > 0 {
		out = append(out, fmt.Sprintf("Resources exhausted on %d nodes", m.NodesExhausted))
	}
	for _, k := range sortedKeys(m.ClassExhausted) {
		out = append(out, fmt.Sprintf("Class %q exhausted on %d nodes", k, m.ClassExhausted[k]))
	}
	for _, k := range sortedKeys(m.DimensionExhausted) {
		out = append(out, fmt.Sprintf("Dimension %q exhausted on %d nodes", k, m.DimensionExhausted[k]))
	}
	if len(m.QuotaExhausted) > 0 {
		out = append(out, "Quota exhausted: "+strings.Join(m.QuotaExhausted, ", "))
	}
	if len(out) == 0 {
		out = append(out, fmt.Sprintf("%d of %d nodes filtered", m.NodesFiltered, m.NodesEvaluated))
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
