package command

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/containerd/console"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

const (
	allocStopUsage    = "alloc stop [-detach] [-verbose] [-no-shutdown-delay] <allocation>"
	allocRestartUsage = "alloc restart [-task T | -all-tasks] [-verbose] <allocation> [<task>]"
	allocSignalUsage  = "alloc signal [-s SIGNAL] [-task T] [-verbose] <allocation> [<task>]"
	allocExecUsage    = "alloc exec [-task T] [-i=true] [-t] [-e ~] <allocation> <command> [<args>...]"
)

func (c *cli) allocStop(args []string) int {
	var m meta
	var detach, verbose, noDelay bool
	fs := c.flagSet("alloc stop", &m)
	fs.BoolVar(&detach, "detach", false, "return at once with the evaluation ID")
	fs.BoolVar(&verbose, "verbose", false, "full IDs")
	fs.BoolVar(&noDelay, "no-shutdown-delay", false, "skip the group and task shutdown_delay")
	if !c.parse(fs, args, allocStopUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <allocation>\nUsage: orch %s", allocStopUsage)
	}
	client, alloc, err := c.lookupAlloc(&m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	resp, err := client.Allocations().Stop(c.ctx, alloc.ID, noDelay, &api.QueryOptions{Namespace: alloc.Namespace})
	if err != nil {
		return c.fail("Error stopping allocation: %v", err)
	}
	if detach {
		fmt.Fprintln(c.out, resp.EvalID)
		return 0
	}
	return c.monitor(client, resp.EvalID)
}

// allocTaskArg picks the task named by -task or the second argument (-task
// wins, as in Nomad); "" when neither names one. A name the allocation
// does not have is an error listing the tasks it has.
func allocTaskArg(a *structs.Allocation, flag, arg string) (string, error) {
	name := flag
	if name == "" {
		name = arg
	}
	if name == "" || a.Job == nil {
		return name, nil
	}
	tg := a.Job.LookupTaskGroup(a.TaskGroup)
	if tg == nil || tg.LookupTask(name) != nil {
		return name, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Could not find task named: %s, found:\n", name)
	for _, t := range tg.Tasks {
		fmt.Fprintf(&b, "* %s\n", t.Name)
	}
	return "", fmt.Errorf("%s", strings.TrimSuffix(b.String(), "\n"))
}

func (c *cli) allocRestart(args []string) int {
	var m meta
	var task string
	var all, verbose bool
	fs := c.flagSet("alloc restart", &m)
	fs.StringVar(&task, "task", "", "the task to restart")
	fs.BoolVar(&all, "all-tasks", false, "restart every task, also those that already ran")
	fs.BoolVar(&verbose, "verbose", false, "full IDs")
	if !c.parse(fs, args, allocRestartUsage) {
		return 1
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return c.fail("This command takes one or two arguments: <allocation> [<task>]\nUsage: orch %s", allocRestartUsage)
	}
	if all && (task != "" || fs.NArg() == 2) {
		return c.fail("The -all-tasks option cannot be used with a task name\nUsage: orch %s", allocRestartUsage)
	}
	client, alloc, err := c.lookupAlloc(&m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	if task, err = allocTaskArg(alloc, task, fs.Arg(1)); err != nil {
		return c.fail("%v", err)
	}
	if err := client.Allocations().Restart(c.ctx, alloc.ID, task, all, &api.QueryOptions{Namespace: alloc.Namespace}); err != nil {
		return c.fail("Failed to restart allocation:\n\n%v", err)
	}
	return 0
}

func (c *cli) allocSignal(args []string) int {
	var m meta
	var task, sig string
	var verbose bool
	fs := c.flagSet("alloc signal", &m)
	fs.StringVar(&task, "task", "", "the task to signal")
	fs.StringVar(&sig, "s", "SIGKILL", "the signal to send")
	fs.BoolVar(&verbose, "verbose", false, "full IDs")
	if !c.parse(fs, args, allocSignalUsage) {
		return 1
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return c.fail("This command takes one or two arguments: <allocation> [<task>]\nUsage: orch %s", allocSignalUsage)
	}
	client, alloc, err := c.lookupAlloc(&m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	if task, err = allocTaskArg(alloc, task, fs.Arg(1)); err != nil {
		return c.fail("%v", err)
	}
	if err := client.Allocations().Signal(c.ctx, alloc.ID, task, sig, &api.QueryOptions{Namespace: alloc.Namespace}); err != nil {
		return c.fail("Error signalling allocation: %v", err)
	}
	return 0
}

func (c *cli) allocExec(args []string) int {
	var m meta
	var task, escape string
	var stdinOn bool
	tty := ttyFlag{}
	fs := c.flagSet("alloc exec", &m)
	fs.StringVar(&task, "task", "", "the task to run the command in")
	fs.BoolVar(&stdinOn, "i", true, "pass standard input to the command")
	fs.Var(&tty, "t", "run the command on a terminal (default: when standard input is one)")
	fs.StringVar(&escape, "e", "~", "escape character on a terminal (\"none\" disables it)")
	if !c.parse(fs, args, allocExecUsage) {
		return 1
	}
	if fs.NArg() < 2 {
		return c.fail("This command takes at least two arguments: <allocation> <command>\nUsage: orch %s", allocExecUsage)
	}
	if escape != "none" && len(escape) != 1 {
		return c.fail("-e takes one character or \"none\"\nUsage: orch %s", allocExecUsage)
	}
	client, alloc, err := c.lookupAlloc(&m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	if task == "" {
		if task, err = pickTask(alloc, ""); err != nil {
			return c.fail("%v", err)
		}
	} else if task, err = allocTaskArg(alloc, task, ""); err != nil {
		return c.fail("%v", err)
	}
	opts := &api.ExecOptions{Task: task, Command: fs.Args()[1:]}
	restore, err := c.execStdio(opts, stdinOn, tty, escape)
	if err != nil {
		return c.fail("Error setting up the terminal: %v", err)
	}
	defer restore()
	code, err := client.Allocations().Exec(c.ctx, alloc.ID, opts, &api.QueryOptions{Namespace: alloc.Namespace})
	if err != nil {
		fmt.Fprintf(c.err, "failed to exec into task: %v\n", err)
		return 1
	}
	return code
}

// execStdio wires the CLI's input and output to an exec session (alloc
// exec, action): -i passes input, -t (or input being a terminal) asks for
// a terminal, put in raw mode with the escape character ending input.
// restore undoes the terminal's raw mode.
func (c *cli) execStdio(opts *api.ExecOptions, stdinOn bool, tty ttyFlag, escape string) (restore func(), err error) {
	opts.Stdout, opts.Stderr = c.out, c.err
	term, isTerm := terminalOf(c.in)
	opts.TTY = tty.value(isTerm)
	if stdinOn {
		opts.Stdin = c.in
	}
	if !opts.TTY || !isTerm {
		return func() {}, nil
	}
	restore, resize, err := rawTerminal(term)
	if err != nil {
		return nil, err
	}
	opts.Resize = resize
	if stdinOn && escape != "none" {
		opts.Stdin = newEscapeReader(c.in, escape[0])
	}
	return restore, nil
}

// ttyFlag is -t: unset means "when standard input is a terminal".
type ttyFlag struct{ set, on bool }

func (f *ttyFlag) String() string   { return fmt.Sprint(f.on) }
func (f *ttyFlag) IsBoolFlag() bool { return true }
func (f *ttyFlag) Set(v string) error {
	switch v {
	case "true", "1":
		f.on = true
	case "false", "0":
		f.on = false
	default:
		return fmt.Errorf("invalid boolean %q", v)
	}
	f.set = true
	return nil
}

func (f *ttyFlag) value(isTerm bool) bool {
	if f.set {
		return f.on
	}
	return isTerm
}

// terminalOf returns the console behind r when r is a terminal.
func terminalOf(r io.Reader) (console.Console, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return nil, false
	}
	con, err := console.ConsoleFromFile(f)
	if err != nil {
		return nil, false
	}
	return con, true
}

// rawTerminal puts the caller's terminal in raw mode (the remote terminal
// interprets keys) and reports its size now and on every SIGWINCH.
func rawTerminal(con console.Console) (restore func(), sizes <-chan structs.TerminalSize, err error) {
	if err := con.SetRaw(); err != nil {
		return nil, nil, err
	}
	ch := make(chan structs.TerminalSize, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	send := func() {
		if ws, err := con.Size(); err == nil {
			select {
			case <-ch:
			default:
			}
			ch <- structs.TerminalSize{Height: int(ws.Height), Width: int(ws.Width)}
		}
	}
	send()
	go func() {
		for {
			select {
			case <-done:
				return
			case <-winch:
				send()
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
		_ = con.Reset()
	}, ch, nil
}

// escapeReader passes input through until the escape sequence: the escape
// character at the start of a line followed by '.', which ends the input
// (and so the session), as Nomad's and ssh's clients do.
type escapeReader struct {
	r       io.Reader
	esc     byte
	midLine bool   // the last byte passed was not a line end
	pending bool   // an escape character at a line start awaits its follower
	out     []byte // translated input not yet returned
	done    bool
}

func newEscapeReader(r io.Reader, esc byte) *escapeReader { return &escapeReader{r: r, esc: esc} }

func (e *escapeReader) Read(p []byte) (int, error) {
	for len(e.out) == 0 {
		if e.done {
			return 0, io.EOF
		}
		buf := make([]byte, len(p))
		n, err := e.r.Read(buf)
		e.translate(buf[:n])
		if err != nil && len(e.out) == 0 {
			return 0, err
		}
		if err != nil {
			break
		}
	}
	n := copy(p, e.out)
	e.out = e.out[n:]
	return n, nil
}

func (e *escapeReader) translate(in []byte) {
	for _, b := range in {
		if e.done {
			return
		}
		switch {
		case e.pending && b == '.':
			e.done = true
			continue
		case e.pending:
			e.pending = false
			e.out = append(e.out, e.esc, b)
		case !e.midLine && b == e.esc:
			e.pending = true
			continue
		default:
			e.out = append(e.out, b)
		}
		e.midLine = b != '\r' && b != '\n'
	}
}
