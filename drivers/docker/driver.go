// Package docker is orch's docker task driver: each task is one container
// run through the Docker Engine API. Containers outlive the client process;
// a new process finds them again through Recover and the labels the driver
// puts on every container.
package docker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/docker/docker/client"
	"github.com/hashicorp/hcl/v2/hcldec"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/identity"
)

// Name is the value of a task's `driver` field.
const Name = "docker"

// Labels put on every container the driver creates.
const (
	LabelAllocID = "com.orch.alloc_id"
	LabelJob     = "com.orch.job"
	LabelTask    = "com.orch.task"
	LabelNodeID  = "com.orch.node_id"
)

// Defaults for Config fields left zero.
const (
	DefaultPullTimeout = 5 * time.Minute
	fingerprintTimeout = 2 * time.Second
	apiTimeout         = 30 * time.Second
)

// Config is the operator's configuration of the driver on one node.
type Config struct {
	// AllowPrivileged lets tasks set privileged = true.
	AllowPrivileged bool
	// VolumesEnabled lets `volumes` and bind mounts name any host path;
	// off, bind sources must resolve inside the allocation's directory.
	VolumesEnabled bool
	// CapAllowlist bounds cap_add (names with or without "CAP_"; "ALL"
	// allows anything). Nil: DefaultCapAllowlist.
	CapAllowlist []string
	// Runtimes bounds `runtime`. Nil: DefaultRuntimes.
	Runtimes []string
	// DevicesEnabled lets tasks map host devices with `devices`.
	DevicesEnabled bool
	// Endpoint is the daemon address, e.g. unix:///var/run/docker.sock.
	// Empty: DOCKER_HOST, else the default unix socket.
	Endpoint string
	// PullTimeout bounds an image pull when the task sets no
	// image_pull_timeout. Zero: DefaultPullTimeout.
	PullTimeout time.Duration
	// InfraImage is the sandbox image holding group network namespaces
	// (infra_image); empty: DefaultInfraImage.
	InfraImage string
	Logger     *slog.Logger
	// NodeID labels containers so orphans of this node can be found.
	NodeID string
	// StateDir, when set, holds per-container log cursors so that a
	// recovered task resumes its log stream exactly where the previous
	// client process stopped. Empty: a recovered stream starts at "now".
	StateDir string
	// Policy bounds the uid and gids containers run as (docker's
	// denied_host_uids/gids; the user/group denylists when
	// user.checked_drivers names docker). Ids in a container are host ids.
	Policy identity.Policy
}

// Driver runs tasks as Docker containers. It is safe for concurrent use.
type Driver struct {
	cfg    Config
	logger *slog.Logger
	client *client.Client

	mu    sync.RWMutex
	tasks map[string]*taskHandle

	// fpMu guards detected: a driver seen healthy once stays "detected"
	// while the daemon is down, so the node reports it unhealthy rather
	// than absent.
	fpMu     sync.Mutex
	detected bool
}

var _ drivers.Driver = (*Driver)(nil)

// New builds a driver. It does not contact the daemon; Fingerprint does.
func New(cfg Config) (*Driver, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PullTimeout <= 0 {
		cfg.PullTimeout = DefaultPullTimeout
	}
	if cfg.StateDir != "" {
		// Cursors written into a missing directory would all fail, and
		// every recovered task would lose the output of the downtime.
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("docker driver: creating state dir: %w", err)
		}
		sweepPins(cfg.StateDir, cfg.Logger)
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Endpoint != "" {
		opts = append(opts, client.WithHost(cfg.Endpoint))
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker driver: creating client: %w", err)
	}
	return &Driver{
		cfg:    cfg,
		logger: cfg.Logger.With("driver", Name),
		client: c,
		tasks:  map[string]*taskHandle{},
	}, nil
}

// Name implements drivers.Driver.
func (d *Driver) Name() string { return Name }

// ConfigSpec implements drivers.Driver.
func (d *Driver) ConfigSpec() hcldec.Spec { return configSpec }

// ValidateConfig implements drivers.Driver.
func (d *Driver) ValidateConfig(cfg map[string]any) error {
	_, err := parseConfig(cfg, d.cfg.AllowPrivileged)
	return err
}

// Close detaches from every task without touching the containers, as when
// the client process shuts down: they keep running and a later Recover
// picks them up.
func (d *Driver) Close() error {
	d.mu.Lock()
	hs := make([]*taskHandle, 0, len(d.tasks))
	for _, h := range d.tasks {
		hs = append(hs, h)
	}
	d.tasks = map[string]*taskHandle{}
	d.mu.Unlock()
	// Detach all at once: each stream may wait a moment for its collector
	// to read what it wrote before persisting its cursor.
	for _, h := range hs {
		h.cancel()
	}
	for _, h := range hs {
		h.detach()
	}
	return d.client.Close()
}

func (d *Driver) handle(taskID string) (*taskHandle, error) {
	d.mu.RLock()
	h := d.tasks[taskID]
	d.mu.RUnlock()
	if h == nil {
		return nil, fmt.Errorf("docker task %q: %w", taskID, drivers.ErrTaskNotFound)
	}
	return h, nil
}

// apiCtx bounds a single daemon call made outside any caller's context.
func apiCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), apiTimeout)
}
