//go:build !linux || !cgo

package isolation

import (
	"context"
	"errors"
	"os"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/identity"
)

// Supported reports whether this build can isolate tasks.
const Supported = false

// ErrUnsupported is returned by Start and Recover in builds without Linux
// and cgo.
var ErrUnsupported = errors.New("task isolation needs a Linux build with cgo")

// IsInitProcess reports whether this process is a container bootstrap; never
// in this build.
func IsInitProcess() bool { return false }

// Init exits: this build cannot serve as a container bootstrap.
func Init() { os.Exit(255) }

// Available reports why tasks cannot be isolated.
func Available() (bool, string) { return false, ErrUnsupported.Error() }

// CgroupVersion is unknown in this build.
func CgroupVersion() string { return "" }

// State is what a driver persists to find a container again.
type State struct {
	ContainerID string `json:"ContainerID"`
	StateRoot   string `json:"StateRoot"`
	TaskDir     string `json:"TaskDir"`
	Pid         int    `json:"Pid"`
	// ExtraReadOnly lists the Spec's extra mount points, for cleanup.
	ExtraReadOnly []string `json:"ExtraReadOnly,omitempty"`
}

// Container is never created in this build.
type Container struct{ Runner }

// Start fails: no isolation in this build.
func Start(context.Context, *Spec) (*Container, error) { return nil, ErrUnsupported }

// Recover fails: no isolation in this build.
func Recover(State) (*Container, error) { return nil, drivers.ErrTaskNotFound }

// State is empty in this build.
func (c *Container) State() State { return State{} }

// PrepareDirs fails: no task dir handover in this build.
func PrepareDirs(string, string, *identity.Identity) error { return ErrUnsupported }
