//go:build linux && cgo

package isolation

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"

	// The supervising shim's C constructor (exec tasks run under it).
	_ "github.com/orch-project/orch/drivers/exec/isolation/shim"
	// nsenter's C constructor performs the namespace setup of the re-exec'd
	// "init" child before the Go runtime starts.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// IsInitProcess reports whether this process was re-exec'd by libcontainer as
// a container's bootstrap process ("<binary> init").
func IsInitProcess() bool {
	return len(os.Args) > 1 && os.Args[1] == "init"
}

// Init runs libcontainer's container bootstrap and never returns. main must
// call it first thing when IsInitProcess is true, before any other setup.
func Init() {
	libcontainer.Init()
}

// Supported reports whether this build can isolate tasks.
const Supported = true
