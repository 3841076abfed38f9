package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/identity"
)

// applyIdentity resolves who the container will run as the way runc does
// inside it (the task's user, else the image's USER, else root; names
// against the image's /etc/passwd and /etc/group), checks that identity
// against the client's policy, and pins it: the container is created with
// the numeric "uid:gid" and supplementary groups that were checked, so an
// image cannot change what a name means between the check and the start.
// It does nothing when the policy could not refuse anything (the image need
// not be read then).
func (d *Driver) applyIdentity(ctx context.Context, cfg *drivers.TaskConfig, spec *containerSpec, imageID string) error {
	if err := identity.Validate(cfg.User); err != nil {
		return drivers.NonRecoverable(err)
	}
	if !d.cfg.Policy.Active() {
		return nil
	}
	userSpec := cfg.User
	if userSpec == "" {
		img, err := d.client.ImageInspect(ctx, imageID)
		if err != nil {
			return fmt.Errorf("inspecting image for its user: %w", err)
		}
		if img.Config != nil {
			userSpec = img.Config.User
		}
	}
	src, err := d.imageUserFiles(ctx, imageID)
	if err != nil {
		return err
	}
	id, err := identity.Resolve(userSpec, "", 0, src)
	if err != nil {
		return drivers.NonRecoverable(fmt.Errorf("docker: %w", err))
	}
	if err := d.cfg.Policy.Check(userSpec, id, src); err != nil {
		return drivers.NonRecoverable(fmt.Errorf("docker: %w", err))
	}
	spec.config.User = id.UserSpec()
	spec.host.GroupAdd = nil
	for _, g := range id.Groups {
		spec.host.GroupAdd = append(spec.host.GroupAdd, strconv.FormatUint(uint64(g), 10))
	}
	return nil
}

// imageUserFiles reads /etc/passwd and /etc/group of an image through a
// container that is created, copied from and removed without ever running.
func (d *Driver) imageUserFiles(ctx context.Context, imageID string) (identity.Source, error) {
	resp, err := d.client.ContainerCreate(ctx, &container.Config{Image: imageID, Cmd: []string{"/nonexistent"},
		Labels: map[string]string{LabelNodeID: d.cfg.NodeID}}, &container.HostConfig{}, nil, nil, "")
	if err != nil {
		return identity.Source{}, fmt.Errorf("reading the image's users: %w", err)
	}
	defer d.removeQuietly(resp.ID)
	var src identity.Source
	if src.Passwd, err = d.copyRegularFile(ctx, resp.ID, "/etc/passwd"); err != nil {
		return identity.Source{}, err
	}
	if src.Group, err = d.copyRegularFile(ctx, resp.ID, "/etc/group"); err != nil {
		return identity.Source{}, err
	}
	return src, nil
}

// copyRegularFile copies one file out of a container; nil when it does not
// exist. A link or anything but a regular file is an error: names would be
// resolved against data runc might not see the same way.
func (d *Driver) copyRegularFile(ctx context.Context, containerID, path string) ([]byte, error) {
	rc, _, err := d.client.CopyFromContainer(ctx, containerID, path)
	if cerrdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the image's %s: %w", path, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	h, err := tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the image's %s: %w", path, err)
	}
	if h.Typeflag != tar.TypeReg {
		return nil, drivers.NonRecoverable(fmt.Errorf("the image's %s is not a regular file; give the task a numeric user (uid:gid)", path))
	}
	return identity.ReadLimited(tr, "the image's "+path)
}
