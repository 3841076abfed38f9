package command

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

const allocLogsUsage = "alloc logs [-f] [-stderr] [-tail] [-n lines] [-c bytes] [-address A] ALLOC [TASK]"

func (c *cli) allocLogs(args []string) int {
	var m meta
	var follow, stderr, tail bool
	var lines int
	var nbytes int64
	fs := c.flagSet("alloc logs", &m)
	fs.BoolVar(&follow, "f", false, "follow the log")
	fs.BoolVar(&stderr, "stderr", false, "show stderr instead of stdout")
	fs.BoolVar(&tail, "tail", false, "show the end of the log")
	fs.IntVar(&lines, "n", -1, "with -tail: number of lines (default 10)")
	fs.Int64Var(&nbytes, "c", -1, "with -tail: number of bytes")
	if !c.parse(fs, args, allocLogsUsage) {
		return 1
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return c.fail("This command takes one or two arguments: <allocation> [<task>]\nUsage: orch %s", allocLogsUsage)
	}
	client, alloc, err := c.lookupAlloc(&m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	task, err := pickTask(alloc, fs.Arg(1))
	if err != nil {
		return c.fail("%v", err)
	}
	opts := api.LogOptions{Task: task, Type: "stdout", Origin: "start", Follow: follow}
	if stderr {
		opts.Type = "stderr"
	}
	if lines >= 0 || nbytes >= 0 {
		tail = true
	}
	keepLines := -1
	if tail {
		opts.Origin = "end"
		if nbytes >= 0 {
			opts.Offset = nbytes
		} else {
			keepLines = 10
			if lines >= 0 {
				keepLines = lines
			}
			// Best effort, as in Nomad: read enough of the end to hold
			// the lines, then keep only the last ones.
			opts.Offset = max(int64(keepLines)*512, 64<<10)
		}
	}
	stream, err := client.AllocFS().LogFrames(c.ctx, alloc.ID, opts)
	if err != nil {
		return c.fail("Error reading logs: %v", err)
	}
	defer stream.Close()
	if err := c.copyLogs(stream, keepLines); err != nil {
		if c.ctx.Err() != nil {
			return 0 // interrupted while following
		}
		return c.fail("Error reading logs: %v", err)
	}
	return 0
}

// pickTask returns the named task, or the group's only task.
func pickTask(a *structs.Allocation, name string) (string, error) {
	var tasks []string
	if a.Job != nil {
		if tg := a.Job.LookupTaskGroup(a.TaskGroup); tg != nil {
			for _, t := range tg.Tasks {
				tasks = append(tasks, t.Name)
			}
		}
	}
	if name != "" {
		if len(tasks) > 0 && !contains(tasks, name) {
			return "", fmt.Errorf("Error: task %q not found in allocation %q (tasks: %s)", name, shortID(a.ID), strings.Join(tasks, ", "))
		}
		return name, nil
	}
	switch len(tasks) {
	case 1:
		return tasks[0], nil
	case 0:
		return "", fmt.Errorf("Error: allocation %q has no tasks known; please specify the task", shortID(a.ID))
	}
	return "", fmt.Errorf("Error: allocation %q is running the following tasks: %s; please specify the task",
		shortID(a.ID), strings.Join(tasks, ", "))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// copyLogs writes the stream's data to stdout. With keepLines >= 0 the data
// up to the first catch-up (a heartbeat, or the end) is trimmed to its last
// keepLines lines.
func (c *cli) copyLogs(stream *api.FrameStream, keepLines int) error {
	var head bytes.Buffer
	buffering := keepLines >= 0
	flushHead := func() {
		if buffering {
			buffering = false
			_, _ = c.out.Write(lastLines(head.Bytes(), keepLines))
		}
	}
	for {
		f, err := stream.Next()
		if errors.Is(err, io.EOF) {
			flushHead()
			return nil
		}
		if err != nil {
			flushHead()
			return err
		}
		if f.IsHeartbeat() {
			flushHead()
			continue
		}
		if buffering {
			head.Write(f.Data)
			continue
		}
		if _, err := c.out.Write(f.Data); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	}
}

// lastLines returns the last n lines of b (a trailing newline does not
// start a new line).
func lastLines(b []byte, n int) []byte {
	if n == 0 {
		return nil
	}
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}
