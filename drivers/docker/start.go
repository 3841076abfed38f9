package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/orch-project/orch/drivers"
)

// testBeforeCreate, set by tests, runs after the bind sources were checked
// and pinned and before the daemon creates the container: the window a
// task would race.
var testBeforeCreate func(cfg *drivers.TaskConfig)

// Start implements drivers.Driver: it makes sure the image is present,
// creates and starts the container, and begins streaming its output.
func (d *Driver) Start(ctx context.Context, cfg *drivers.TaskConfig) (*drivers.TaskHandle, error) {
	if cfg == nil || cfg.ID == "" {
		return nil, errors.New("docker driver: task config without an ID")
	}
	d.mu.RLock()
	_, exists := d.tasks[cfg.ID]
	d.mu.RUnlock()
	if exists {
		return nil, fmt.Errorf("docker task %q is already running", cfg.ID)
	}

	tc, err := parseConfig(cfg.Config, d.cfg.AllowPrivileged)
	if err != nil {
		// A bad config or a refused privileged container stays refused
		// until the job changes.
		return nil, drivers.NonRecoverable(err)
	}
	// The spec carries the operator's checks (host paths, capabilities):
	// build it before pulling so a refused task fails fast.
	spec, err := d.buildContainerSpec(cfg, tc, tc.Image)
	if err != nil {
		return nil, err
	}
	if err := d.pinNetworkContainer(ctx, cfg, spec.host); err != nil {
		return nil, err
	}
	if err := d.groupHosts(ctx, cfg, tc, spec.host); err != nil {
		return nil, err
	}
	imageID, err := d.ensureImage(ctx, tc)
	if err != nil {
		return nil, err
	}
	spec.config.Image = imageID
	if err := d.applyIdentity(ctx, cfg, spec, imageID); err != nil {
		return nil, err
	}
	// Open the sinks before the container exists, so a bad path fails the
	// start without leaving a container behind.
	logs, err := d.newLogStreamer(cfg.StdoutPath, cfg.StderrPath)
	if err != nil {
		return nil, err
	}

	// Bind sources in the alloc dir are pinned from here until the
	// container has its mounts (see pin.go).
	pins, err := d.pinBinds(cfg, spec.host)
	if err != nil {
		logs.closeSinks()
		return nil, drivers.NonRecoverable(err)
	}
	if testBeforeCreate != nil {
		testBeforeCreate(cfg)
	}
	containerID, err := d.createContainer(ctx, cfg, spec)
	if err != nil {
		pins.release()
		logs.closeSinks()
		return nil, err
	}
	err = d.client.ContainerStart(ctx, containerID, container.StartOptions{})
	pins.release()
	if err != nil {
		logs.closeSinks()
		d.removeQuietly(containerID)
		return nil, fmt.Errorf("starting container %s: %w", containerID, err)
	}
	startedAt := time.Now()
	if info, err := d.client.ContainerInspect(ctx, containerID); err == nil && info.State != nil {
		if t := parseDockerTime(info.State.StartedAt); !t.IsZero() {
			startedAt = t
		}
	}

	state, err := json.Marshal(driverState{ContainerID: containerID, ImageID: imageID})
	if err != nil {
		logs.closeSinks()
		d.removeQuietly(containerID)
		return nil, fmt.Errorf("encoding docker driver state: %w", err)
	}
	logs.bind(containerID)

	h := d.newHandle(cfg.ID, containerID, imageID, cfg, startedAt)
	h.setLogs(logs)
	d.mu.Lock()
	d.tasks[cfg.ID] = h
	d.mu.Unlock()
	h.run(logCursor{})

	d.logger.Info("started container", "task", cfg.ID, "container", shortID(containerID), "image", tc.Image)
	return &drivers.TaskHandle{
		Version:     handleVersion,
		Driver:      Name,
		Config:      cfg,
		DriverState: state,
		StartedAt:   startedAt,
	}, nil
}

// createContainer creates the container. A container left with the same
// name by an earlier attempt (a crash between create and persisting the
// handle) is removed and the create retried once.
func (d *Driver) createContainer(ctx context.Context, cfg *drivers.TaskConfig, spec *containerSpec) (string, error) {
	name := containerName(cfg)
	for attempt := 0; ; attempt++ {
		resp, err := d.client.ContainerCreate(ctx, spec.config, spec.host, nil, nil, name)
		if err == nil {
			for _, w := range resp.Warnings {
				d.logger.Warn("container create warning", "task", cfg.ID, "warning", w)
			}
			return resp.ID, nil
		}
		if !cerrdefs.IsConflict(err) || attempt > 0 {
			return "", fmt.Errorf("creating container %s: %w", name, err)
		}
		d.logger.Warn("removing stale container with the same name", "task", cfg.ID, "container", name)
		if rmErr := d.client.ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true}); rmErr != nil && !cerrdefs.IsNotFound(rmErr) {
			return "", fmt.Errorf("creating container %s: removing stale container: %w (create: %v)", name, rmErr, err)
		}
	}
}

func (d *Driver) removeQuietly(containerID string) {
	ctx, cancel := apiCtx()
	defer cancel()
	if err := d.client.ContainerRemove(ctx, containerID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
		d.logger.Warn("removing container", "container", shortID(containerID), "error", err)
	}
}

// Recover implements drivers.Driver. A running container gets its exit
// watcher and log stream back; one that exited while no client was watching
// reports its real exit status through Wait.
func (d *Driver) Recover(ctx context.Context, th *drivers.TaskHandle) error {
	// Only "definitely gone" is ErrTaskNotFound: an unusable handle, or a
	// 404 from the daemon. Anything else (the daemon still starting after a
	// reboot) stays a plain error so the client retries instead of starting
	// a second container, whose creation would remove this one.
	st, err := decodeState(th)
	if err != nil {
		return fmt.Errorf("%w: %w", err, drivers.ErrTaskNotFound)
	}
	cfg := th.Config
	if cfg == nil || cfg.ID == "" {
		return fmt.Errorf("docker handle has no task config: %w", drivers.ErrTaskNotFound)
	}
	d.mu.RLock()
	_, exists := d.tasks[cfg.ID]
	d.mu.RUnlock()
	if exists {
		return nil
	}

	info, err := d.client.ContainerInspect(ctx, st.ContainerID)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("container %s: %w", shortID(st.ContainerID), drivers.ErrTaskNotFound)
		}
		return fmt.Errorf("inspecting container %s: %w", shortID(st.ContainerID), err)
	}
	if info.State == nil || info.State.Status == "created" {
		// Never started: nothing ran, so there is no status to report.
		d.removeQuietly(st.ContainerID)
		return fmt.Errorf("container %s was never started: %w", shortID(st.ContainerID), drivers.ErrTaskNotFound)
	}

	logs, err := d.newLogStreamer(cfg.StdoutPath, cfg.StderrPath)
	if err != nil {
		return err
	}
	logs.bind(st.ContainerID)
	// Resume after the last message an earlier process wrote; without a
	// cursor, start at now rather than replay the whole output.
	cursor, ok := logs.readCursor()
	if !ok {
		now := time.Now()
		cursor = cursorAt(now)
	}

	startedAt := parseDockerTime(info.State.StartedAt)
	if startedAt.IsZero() {
		startedAt = th.StartedAt
	}
	h := d.newHandle(cfg.ID, st.ContainerID, st.ImageID, cfg, startedAt)
	h.setLogs(logs)
	d.mu.Lock()
	if _, exists := d.tasks[cfg.ID]; exists {
		d.mu.Unlock()
		logs.closeSinks()
		return nil
	}
	d.tasks[cfg.ID] = h
	d.mu.Unlock()
	h.run(cursor)
	d.logger.Info("recovered container", "task", cfg.ID, "container", shortID(st.ContainerID), "running", info.State.Running)
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
