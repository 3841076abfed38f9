package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
)

// normalizeImage turns "busybox" into "busybox:latest" so that the local
// lookup and the pull agree on which image is meant.
func normalizeImage(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	return reference.FamiliarString(reference.TagNameOnly(named)), nil
}

// ensureImage returns the ID of the task's image, pulling it only when it is
// not present locally or force_pull is set.
func (d *Driver) ensureImage(ctx context.Context, tc *taskConfig) (string, error) {
	ref, err := normalizeImage(tc.Image)
	if err != nil {
		return "", err
	}
	if !tc.ForcePull {
		inspect, err := d.client.ImageInspect(ctx, ref)
		if err == nil {
			return inspect.ID, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("inspecting image %s: %w", ref, err)
		}
	}

	timeout := tc.ImagePullTimeout
	if timeout <= 0 {
		timeout = d.cfg.PullTimeout
	}
	err = d.pull(ctx, ref, tc.Auth, timeout)
	if err != nil && tc.Auth != nil && tc.AuthSoftFail && isAuthFailure(err) {
		// auth_soft_fail: the credentials were refused; try as anonymous,
		// as Nomad does (public images behind a registry login).
		d.logger.Warn("image pull with credentials refused; retrying without them", "image", ref, "error", err)
		err = d.pull(ctx, ref, nil, timeout)
	}
	if err != nil {
		return "", err
	}
	inspect, err := d.client.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("inspecting image %s after pull: %w", ref, err)
	}
	return inspect.ID, nil
}

// pullMessage is the part of the daemon's pull progress stream that carries
// failures: a pull can fail after the HTTP call succeeded.
type pullMessage struct {
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

func (d *Driver) pull(ctx context.Context, ref string, auth *authConfig, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	opts := image.PullOptions{}
	if auth != nil {
		enc, err := registry.EncodeAuthConfig(registry.AuthConfig{
			Username:      auth.Username,
			Password:      auth.Password,
			ServerAddress: auth.ServerAddress,
		})
		if err != nil {
			return fmt.Errorf("pulling image %s: encoding credentials: %w", ref, err)
		}
		opts.RegistryAuth = enc
	}

	start := time.Now()
	d.logger.Info("pulling image", "image", ref)
	rc, err := d.client.ImagePull(ctx, ref, opts)
	if err != nil {
		return pullError(ctx, ref, timeout, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var m pullMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return pullError(ctx, ref, timeout, fmt.Errorf("reading pull progress: %w", err))
		}
		if m.Error != "" {
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			return pullError(ctx, ref, timeout, errors.New(msg))
		}
	}
	d.logger.Info("pulled image", "image", ref, "duration", time.Since(start))
	return nil
}

// unreachableHints are fragments of the daemon's messages when it cannot
// talk to the registry at all, as opposed to the registry refusing the pull.
var unreachableHints = []string{
	"no such host", "connection refused", "i/o timeout", "network is unreachable",
	"no route to host", "tls handshake timeout", "server misbehaving",
	"client.timeout exceeded", "connection reset by peer", "temporary failure in name resolution",
	"dial tcp",
}

// pullError gives a failed pull a message an operator can act on.
func pullError(ctx context.Context, ref string, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("pulling image %s: registry unreachable: timed out after %s: %w", ref, timeout, err)
	}
	msg := strings.ToLower(err.Error())
	for _, h := range unreachableHints {
		if strings.Contains(msg, h) {
			return fmt.Errorf("pulling image %s: registry unreachable: %w", ref, err)
		}
	}
	return fmt.Errorf("pulling image %s: %w", ref, err)
}

// isAuthFailure reports a pull the registry refused for its credentials.
func isAuthFailure(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, h := range []string{"unauthorized", "authentication required", "access denied", "incorrect username or password", "401"} {
		if strings.Contains(msg, h) {
			return true
		}
	}
	return false
}
