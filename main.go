// Command orch is a workload orchestrator: one binary that runs as a server,
// a client, or both (`orch agent -dev`), and is its own CLI.
package main

import (
	"os"

	"github.com/orch-project/orch/command"
	"github.com/orch-project/orch/drivers/exec"
)

func main() {
	// The exec driver re-executes this binary as the container's init;
	// that process must do nothing else (see drivers/exec).
	if exec.IsInitProcess() {
		exec.Init()
	}
	os.Exit(command.Run(os.Args[1:]))
}
