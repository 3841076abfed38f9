// Package command is orch's command line: the agent and the Nomad-style
// job, node, alloc and server commands that talk to an agent over HTTP.
package command

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/orch-project/orch/structs"
)

// Run executes the command line args (without the program name) and
// returns the process exit code.
func Run(args []string) int {
	if len(args) > 0 && args[0] == "agent" {
		return runAgent(args[1:])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &cli{ctx: ctx, out: os.Stdout, err: os.Stderr, in: os.Stdin, env: os.Environ()}
	return c.run(args)
}

// cli carries a command's context and streams, so tests can capture them.
type cli struct {
	ctx context.Context
	out io.Writer
	err io.Writer
	in  io.Reader
	env []string
}

const usageText = `Usage: orch <command> [args]

Commands:
    agent            Run an orch agent (server, client or both with -dev)
    job run          Submit a job file and watch it being placed
    job status       List jobs or show one job
    job stop         Stop a job
    job inspect      Print a job as JSON
    job plan         Dry-run a job file: the diff and what the scheduler would do
    job history      List a job's versions (-p: with their diffs)
    job revert       Run an earlier version of a job again
    job eval         Force an evaluation of a job
    job promote      Promote the canaries of a job's latest deployment
    job validate     Check a job file
    job init         Write an example job file
    job scale        Change a group's count (within its scaling policy)
    job scaling-events  Show a job's scaling history
    job dispatch     Dispatch a parameterized job with a payload and meta
    job periodic force  Launch a periodic job now
    job action       Run an action a task declares (alias: action)
    deployment       list, status, promote, fail, pause, resume
    node status      List nodes or show one node
    node drain       Drain a node (-enable|-disable|-monitor), moving its allocations off
    node eligibility Make a node eligible or ineligible for new work
    alloc status     Show an allocation
    alloc logs       Print a task's logs
    alloc fs         List, print, tail or stat files in an allocation's directory
    alloc stop       Stop an allocation; the scheduler replaces it
    alloc restart    Restart an allocation's tasks in place
    alloc signal     Send a signal to an allocation's tasks
    alloc exec       Run a command inside a running task (-i, -t)
    alloc checks     Show the latest results of an allocation's service checks
    server members   List the server members
    namespace        apply, list, status, inspect, delete namespaces
    acl              bootstrap; policy, token and role apply/create, list, info, update, delete
    service list     List the registered services
    service info     Show a service's instances
    service delete   Remove a service instance
    var put          Create or update a variable
    var get          Read a variable
    var list         List variables
    var purge        Delete a variable
    var lock         Run a command while holding a lock on a variable
    var init         Write an example variable specification
    operator root keyring list|rotate|remove
                     Manage the root keys that encrypt variables
    tls              ca create, cert create -server|-client|-cli
    operator gossip  keyring -list|-install|-use|-remove, keyring generate
    operator raft    list-peers [-stale], remove-peer -peer-id=ID|-peer-address=IP:port
    operator autopilot  get-config, set-config [flags], health [-json]
    version          Print the version

Every command talking to an agent takes -address (default $ORCH_ADDR,
then $NOMAD_ADDR, then http://127.0.0.1:4646) and -token (default
$ORCH_TOKEN, then $NOMAD_TOKEN).
`

func (c *cli) run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.err, usageText)
		return 1
	}
	sub := func(table map[string]func([]string) int, group string) int {
		if len(args) < 2 {
			return c.usageErr("Missing %s subcommand", group)
		}
		fn, ok := table[args[1]]
		if !ok {
			return c.usageErr("Unknown command %q", group+" "+args[1])
		}
		return fn(args[2:])
	}
	switch args[0] {
	case "agent":
		return runAgent(args[1:])
	case "job":
		return sub(map[string]func([]string) int{
			"run": c.jobRun, "status": c.jobStatus, "stop": c.jobStop, "inspect": c.jobInspect,
			"validate": c.jobValidate, "init": c.jobInit,
			"scale": c.jobScale, "scaling-events": c.jobScalingEvents,
			"plan": c.jobPlan, "history": c.jobHistory,
			"revert": c.jobRevert, "eval": c.jobEval, "promote": c.jobPromote,
			"dispatch": c.jobDispatch, "periodic": c.jobPeriodic, "action": c.jobAction,
		}, "job")
	case "deployment":
		return sub(c.deploymentCommands(), "deployment")
	case "node":
		return sub(map[string]func([]string) int{"status": c.nodeStatus, "drain": c.nodeDrain,
			"eligibility": c.nodeEligibility}, "node")
	case "alloc":
		return sub(map[string]func([]string) int{"status": c.allocStatus, "logs": c.allocLogs, "fs": c.allocFS,
			"stop": c.allocStop, "restart": c.allocRestart, "signal": c.allocSignal, "exec": c.allocExec,
			"checks": c.allocChecks}, "alloc")
	case "namespace":
		return sub(c.namespaceCommands(), "namespace")
	case "acl":
		return c.aclCommand(args[1:])
	case "tls":
		return c.tlsCommand(args[1:])
	case "operator":
		return sub(c.operatorCommands(), "operator")
	case "server":
		return sub(map[string]func([]string) int{"members": c.serverMembers}, "server")
	case "service":
		return sub(c.serviceCommands(), "service")
	case "var":
		return sub(c.varCommands(), "var")
	case "status":
		return c.jobStatus(args[1:])
	case "action":
		return c.jobAction(args[1:])
	case "version", "-version", "--version", "-v":
		fmt.Fprintf(c.out, "orch v%s\n", structs.Version)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.out, usageText)
		return 0
	default:
		return c.usageErr("Unknown command %q", args[0])
	}
}

func (c *cli) usageErr(format string, args ...any) int {
	fmt.Fprintf(c.err, format+"\n\n", args...)
	fmt.Fprint(c.err, usageText)
	return 1
}

// fail prints one error line and returns exit code 1.
func (c *cli) fail(format string, args ...any) int {
	fmt.Fprintf(c.err, format+"\n", args...)
	return 1
}
