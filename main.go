// Command orch is a workload orchestrator: one binary that runs as a server,
// a client, or both (`orch agent -dev`), and is its own CLI.
package main

import (
	"os"

	"github.com/orch-project/orch/client/artifacts"
	"github.com/orch-project/orch/command"
	"github.com/orch-project/orch/drivers/exec"
)

func main() {
	// The exec driver re-executes this binary as the container's init;
	// that process must do nothing else (see drivers/exec).
	if exec.IsInitProcess() {
		exec.Init()
	}
	// The client re-executes this binary to fetch an artifact in a
	// sandbox (see client/artifacts).
	if artifacts.IsHelper() {
		artifacts.HelperMain()
	}
	os.Exit(command.Run(os.Args[1:]))
}
