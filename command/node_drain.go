package command

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

const (
	nodeDrainUsage = "node drain [-enable|-disable|-monitor] [-deadline D|-no-deadline|-force] [-ignore-system] " +
		"[-keep-ineligible] [-detach] [-yes] [-m key=value] <node>"
	nodeEligibilityUsage = "node eligibility [-enable|-disable] <node>"
)

// nodeDrainFlags are node drain's options.
type nodeDrainFlags struct {
	enable, disable, monitor, detach     bool
	force, noDeadline, ignoreSystem, yes bool
	keepIneligible                       bool
	deadline                             time.Duration
	meta                                 kvFlag
}

func (c *cli) nodeDrain(args []string) int {
	var m meta
	var f nodeDrainFlags
	fs := c.flagSet("node drain", &m)
	fs.BoolVar(&f.enable, "enable", false, "enable draining")
	fs.BoolVar(&f.disable, "disable", false, "disable draining")
	fs.BoolVar(&f.monitor, "monitor", false, "monitor an existing drain")
	fs.BoolVar(&f.detach, "detach", false, "return once the drain is set")
	fs.BoolVar(&f.force, "force", false, "stop every allocation now")
	fs.BoolVar(&f.noDeadline, "no-deadline", false, "never force the remaining allocations off")
	fs.BoolVar(&f.ignoreSystem, "ignore-system", false, "leave system jobs' allocations running")
	fs.BoolVar(&f.keepIneligible, "keep-ineligible", false, "keep the node ineligible when disabling the drain")
	fs.BoolVar(&f.yes, "yes", false, "answer yes to prompts")
	fs.DurationVar(&f.deadline, "deadline", time.Hour, "time after which remaining allocations are stopped")
	fs.Var(&f.meta, "m", "drain metadata key=value (repeatable)")
	if !c.parse(fs, args, nodeDrainUsage) {
		return 1
	}
	deadlineSet := false
	fs.Visit(func(fl *flag.Flag) { deadlineSet = deadlineSet || fl.Name == "deadline" })
	if msg := f.check(deadlineSet); msg != "" {
		return c.fail("%s\nUsage: orch %s", msg, nodeDrainUsage)
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <node>\nUsage: orch %s", nodeDrainUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	id, err := c.resolveNode(client, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	if f.monitor {
		return c.monitorDrain(client, id, f.ignoreSystem)
	}
	var spec *structs.DrainSpec
	if f.enable {
		spec = &structs.DrainSpec{Deadline: f.deadline, IgnoreSystemJobs: f.ignoreSystem}
		switch {
		case f.force:
			spec.Deadline = -1
		case f.noDeadline:
			spec.Deadline = 0
		}
	}
	if _, err := client.Nodes().UpdateDrain(c.ctx, id, spec, !f.keepIneligible, f.meta.m); err != nil {
		return c.fail("Error updating drain specification: %v", err)
	}
	if f.disable {
		fmt.Fprintf(c.out, "Node %q drain strategy unset\n", id)
		return 0
	}
	if f.detach {
		fmt.Fprintf(c.out, "Node %q drain strategy set\n", id)
		return 0
	}
	fmt.Fprintf(c.out, "%s: Ctrl-C to stop monitoring: will not cancel the node drain\n", drainTS())
	fmt.Fprintf(c.out, "%s: Node %q drain strategy set\n", drainTS(), id)
	return c.monitorDrain(client, id, f.ignoreSystem)
}

// check validates the flag combination as Nomad's CLI does.
func (f *nodeDrainFlags) check(deadlineSet bool) string {
	switch {
	case f.monitor && (f.enable || f.disable):
		return "The -monitor flag cannot be used with the '-enable' or '-disable' flags"
	case f.monitor && f.detach:
		return "The -detach and -monitor flags cannot both be set"
	case !f.monitor && !f.enable && !f.disable:
		return "Either the '-enable' or '-disable' flag must be set, unless using '-monitor'"
	case f.enable && f.disable:
		return "Only one of the -enable or -disable flags may be set"
	case b2n(f.force)+b2n(f.noDeadline)+b2n(deadlineSet) > 1:
		return "Only one of the -deadline, -no-deadline or -force flags may be set"
	case deadlineSet && f.deadline <= 0:
		return "A positive drain deadline must be given"
	}
	return ""
}

func b2n(b bool) int {
	if b {
		return 1
	}
	return 0
}

func drainTS() string { return time.Now().Local().Format(time.RFC3339) }

// monitorDrain follows a drain until the node's drain is done and every
// allocation on it has stopped, printing what happens, as Nomad's CLI does.
func (c *cli) monitorDrain(client *api.Client, nodeID string, ignoreSystem bool) int {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	msgs := make(chan string, 16)
	nodeDone := make(chan error, 1)
	allocsDone := make(chan error, 1)
	go func() { nodeDone <- watchDrainNode(ctx, client, nodeID, msgs) }()
	go func() { allocsDone <- watchDrainAllocs(ctx, client, nodeID, ignoreSystem, msgs) }()
	for pending := 2; pending > 0; {
		select {
		case msg := <-msgs:
			fmt.Fprintf(c.out, "%s: %s\n", drainTS(), msg)
			continue
		case err := <-nodeDone:
			if err != nil {
				return c.drainMonitorError(err)
			}
		case err := <-allocsDone:
			if err != nil {
				return c.drainMonitorError(err)
			}
		}
		pending--
	}
	for {
		select {
		case msg := <-msgs:
			fmt.Fprintf(c.out, "%s: %s\n", drainTS(), msg)
		default:
			return 0
		}
	}
}

func (c *cli) drainMonitorError(err error) int {
	if c.ctx.Err() != nil {
		return 1
	}
	fmt.Fprintf(c.err, "%s: Error monitoring node: %v\n", drainTS(), err)
	return 1
}

func send(ctx context.Context, ch chan<- string, msg string) {
	select {
	case ch <- msg:
	case <-ctx.Done():
	}
}

// watchDrainNode returns once the node's drain strategy is gone.
func watchDrainNode(ctx context.Context, client *api.Client, nodeID string, msgs chan<- string) error {
	var index uint64
	var last *structs.DrainStrategy
	for {
		node, qm, err := client.Nodes().Info(ctx, nodeID, &api.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second})
		if err != nil {
			return err
		}
		if node.DrainStrategy == nil {
			send(ctx, msgs, fmt.Sprintf("Drain complete for node %s", nodeID))
			return nil
		}
		if last != nil && !node.DrainStrategy.Equal(last) {
			send(ctx, msgs, fmt.Sprintf("Node %q drain updated: %s", nodeID, node.DrainStrategy))
		}
		last = node.DrainStrategy
		index = qm.LastIndex
	}
}

// watchDrainAllocs returns once no allocation on the node is pending or
// running (system jobs' aside with ignoreSystem).
func watchDrainAllocs(ctx context.Context, client *api.Client, nodeID string, ignoreSystem bool, msgs chan<- string) error {
	var index uint64
	seen := map[string]*structs.Allocation{}
	for {
		allocs, qm, err := client.Nodes().Allocations(ctx, nodeID, &api.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second})
		if err != nil {
			return err
		}
		index = qm.LastIndex
		running := 0
		for _, a := range allocs {
			if msg := allocDrainChange(seen[a.ID], a); msg != "" {
				send(ctx, msgs, fmt.Sprintf("Alloc %q %s", a.ID, msg))
			}
			seen[a.ID] = a
			if a.Job == nil || (ignoreSystem && a.Job.Type == structs.JobTypeSystem) {
				continue
			}
			if a.ClientStatus == structs.AllocClientStatusPending || a.ClientStatus == structs.AllocClientStatusRunning {
				running++
			}
		}
		if running == 0 {
			send(ctx, msgs, fmt.Sprintf("All allocations on node %q have stopped", nodeID))
			return nil
		}
	}
}

// allocDrainChange describes what changed for an allocation between two
// reads ("" when nothing worth saying; nothing for its first sight).
func allocDrainChange(old, a *structs.Allocation) string {
	if old == nil {
		return ""
	}
	migrating := a.DesiredTransition.ShouldMigrate()
	switch {
	case old.ClientStatus != a.ClientStatus:
		return fmt.Sprintf("status %s -> %s", old.ClientStatus, a.ClientStatus)
	case migrating && !old.DesiredTransition.ShouldMigrate():
		return "marked for migration"
	case migrating && old.DesiredStatus != a.DesiredStatus && a.DesiredStatus == structs.AllocDesiredStatusStop:
		return "draining"
	}
	return ""
}

func (c *cli) nodeEligibility(args []string) int {
	var m meta
	var enable, disable bool
	fs := c.flagSet("node eligibility", &m)
	fs.BoolVar(&enable, "enable", false, "mark the node eligible for scheduling")
	fs.BoolVar(&disable, "disable", false, "mark the node ineligible for scheduling")
	if !c.parse(fs, args, nodeEligibilityUsage) {
		return 1
	}
	switch {
	case enable == disable:
		return c.fail("Either the '-enable' or '-disable' flag must be set\nUsage: orch %s", nodeEligibilityUsage)
	case fs.NArg() != 1:
		return c.fail("This command takes one argument: <node>\nUsage: orch %s", nodeEligibilityUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	id, err := c.resolveNode(client, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	if _, err := client.Nodes().ToggleEligibility(c.ctx, id, enable); err != nil {
		return c.fail("Error updating scheduling eligibility: %v", err)
	}
	state := "ineligible"
	if enable {
		state = "eligible"
	}
	fmt.Fprintf(c.out, "Node %q scheduling eligibility set: %s for scheduling\n", id, state)
	return 0
}

// kvFlag collects repeated key=value flags.
type kvFlag struct{ m map[string]string }

func (k *kvFlag) String() string { return "" }

func (k *kvFlag) Set(v string) error {
	key, val, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return fmt.Errorf("expected key=value, got %q", v)
	}
	if k.m == nil {
		k.m = map[string]string{}
	}
	k.m[key] = val
	return nil
}
