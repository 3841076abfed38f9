package command

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

const allocFSUsage = "alloc fs [-H] [-stat] [-f] [-tail] [-n lines] [-c bytes] [-job] [-address A] ALLOC|JOB [PATH]"

// fsOptions are alloc fs's flags.
type fsOptions struct {
	machine, stat, follow, tail, job bool
	lines                            int
	nbytes                           int64
}

// allocFS is Nomad's `alloc fs`: list a directory, print (cat) a file, tail
// or follow it, or stat it, in an allocation's directory.
func (c *cli) allocFS(args []string) int {
	var m meta
	var o fsOptions
	fs := c.flagSet("alloc fs", &m)
	fs.BoolVar(&o.machine, "H", false, "machine friendly output (sizes in bytes)")
	fs.BoolVar(&o.stat, "stat", false, "show the file's information instead of its contents")
	fs.BoolVar(&o.follow, "f", false, "keep printing what is appended to the file")
	fs.BoolVar(&o.tail, "tail", false, "show the end of the file")
	fs.IntVar(&o.lines, "n", -1, "with -tail: number of lines (default 10)")
	fs.Int64Var(&o.nbytes, "c", -1, "with -tail: number of bytes")
	fs.BoolVar(&o.job, "job", false, "the first argument is a job; use one of its allocations")
	if !c.parse(fs, args, allocFSUsage) {
		return 1
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return c.fail("This command takes one or two arguments: <allocation> [<path>]\nUsage: orch %s", allocFSUsage)
	}
	path := "/"
	if fs.NArg() == 2 {
		path = fs.Arg(1)
	}
	var client *api.Client
	var alloc *structs.Allocation
	var err error
	if o.job {
		client, alloc, err = c.jobAlloc(&m, fs.Arg(0))
	} else {
		client, alloc, err = c.lookupAlloc(&m, fs.Arg(0))
	}
	if err != nil {
		return c.report(err)
	}
	afs := client.AllocFS()
	info, err := afs.Stat(c.ctx, alloc.ID, path)
	if err != nil {
		return c.fail("Error stating file %s: %v", path, err)
	}
	if o.stat {
		printTable(c.out, [][]string{{"Mode", "Size", "Modified Time", "Content Type", "Name"},
			{info.FileMode, fsSize(info.Size, o.machine), fsTime(info.ModTime), info.ContentType, info.Name}})
		return 0
	}
	if info.IsDir {
		return c.fsList(afs, alloc.ID, path, o.machine)
	}
	if o.tail || o.follow || o.lines >= 0 || o.nbytes >= 0 {
		return c.fsTail(afs, alloc.ID, path, o)
	}
	rc, err := afs.Cat(c.ctx, alloc.ID, path)
	if err != nil {
		return c.fail("Error reading file: %v", err)
	}
	defer rc.Close()
	if _, err := io.Copy(c.out, rc); err != nil {
		return c.fail("Error reading file: %v", err)
	}
	return 0
}

func (c *cli) fsList(afs *api.AllocFS, allocID, path string, machine bool) int {
	files, err := afs.List(c.ctx, allocID, path)
	if err != nil {
		return c.fail("Error listing alloc dir: %v", err)
	}
	rows := [][]string{{"Mode", "Size", "Modified Time", "Name"}}
	for _, f := range files {
		name := f.Name
		if f.IsDir {
			name += "/"
		}
		rows = append(rows, []string{f.FileMode, fsSize(f.Size, machine), fsTime(f.ModTime), name})
	}
	printTable(c.out, rows)
	return 0
}

// fsTail prints the end of a file (-tail, -n, -c) and, with -f, what is
// appended after.
func (c *cli) fsTail(afs *api.AllocFS, allocID, path string, o fsOptions) int {
	origin, offset, keepLines := "start", int64(0), -1
	if o.tail || o.lines >= 0 || o.nbytes >= 0 {
		origin = "end"
		if o.nbytes >= 0 {
			offset = o.nbytes
		} else {
			keepLines = 10
			if o.lines >= 0 {
				keepLines = o.lines
			}
			// As for logs: read enough of the end to hold the lines.
			offset = max(int64(keepLines)*512, 64<<10)
		}
	}
	stream, err := afs.Stream(c.ctx, allocID, path, origin, offset, o.follow)
	if err != nil {
		return c.fail("Error reading file: %v", err)
	}
	defer stream.Close()
	if err := c.copyLogs(stream, keepLines); err != nil && !errors.Is(err, io.EOF) {
		if c.ctx.Err() != nil {
			return 0 // interrupted while following
		}
		return c.fail("Error reading file: %v", err)
	}
	return 0
}

// jobAlloc picks an allocation of a job for -job: a running one if there
// is one, else the newest.
func (c *cli) jobAlloc(m *meta, jobID string) (*api.Client, *structs.Allocation, error) {
	client, err := m.client()
	if err != nil {
		return nil, nil, fmt.Errorf("Error initializing client: %w", err)
	}
	allocs, _, err := client.Jobs().Allocations(c.ctx, jobID, true, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("Error querying job allocations: %w", err)
	}
	if len(allocs) == 0 {
		return nil, nil, fmt.Errorf("No allocations found for job %q", jobID)
	}
	pick := allocs[0]
	for _, a := range allocs {
		if a.ClientStatus == structs.AllocClientStatusRunning {
			pick = a
			break
		}
		if a.CreateTime > pick.CreateTime {
			pick = a
		}
	}
	alloc, _, err := client.Allocations().Info(c.ctx, pick.ID, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("Error querying allocation: %w", err)
	}
	return client, alloc, nil
}

// fsSize renders a size as Nomad does: human units unless -H.
func fsSize(n int64, machine bool) string {
	if machine {
		return fmt.Sprint(n)
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func fsTime(t time.Time) string {
	return strings.TrimSpace(t.Local().Format("02 Jan 06 15:04 MST"))
}
