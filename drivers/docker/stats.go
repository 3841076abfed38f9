package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/orch-project/orch/drivers"
)

// Stats implements drivers.Driver with one non-streaming sample. The daemon
// fills the previous CPU reading itself, so CPU percent is over the
// daemon's sampling interval (about a second).
func (d *Driver) Stats(ctx context.Context, taskID string) (*drivers.TaskResourceUsage, error) {
	h, err := d.handle(taskID)
	if err != nil {
		return nil, err
	}
	// The daemon answers with an empty body when its collector had no
	// sample to give (it skips a round under load); ask again.
	const attempts = 3
	for i := 1; ; i++ {
		s, err := d.statsOnce(ctx, h.containerID)
		if err == nil {
			return usageFromStats(s), nil
		}
		if !errors.Is(err, io.EOF) || i == attempts || ctx.Err() != nil {
			return nil, err
		}
	}
}

func (d *Driver) statsOnce(ctx context.Context, containerID string) (*container.StatsResponse, error) {
	resp, err := d.client.ContainerStats(ctx, containerID, false)
	if err != nil {
		return nil, fmt.Errorf("stats of container %s: %w", shortID(containerID), err)
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("decoding stats of container %s: %w", shortID(containerID), err)
	}
	return &s, nil
}

// usageFromStats converts the daemon's sample; cgroup v1 reports rss and
// cache, cgroup v2 anon and file.
func usageFromStats(s *container.StatsResponse) *drivers.TaskResourceUsage {
	ts := s.Read
	if ts.IsZero() {
		ts = time.Now()
	}
	u := &drivers.TaskResourceUsage{
		Timestamp:    ts.UnixNano(),
		CPUPercent:   cpuPercent(s),
		MemoryMaxRSS: s.MemoryStats.MaxUsage,
	}
	ms := s.MemoryStats.Stats
	if rss, ok := ms["rss"]; ok {
		u.MemoryRSS = rss
		u.MemoryCache = ms["cache"]
	} else if anon, ok := ms["anon"]; ok {
		u.MemoryRSS = anon
		u.MemoryCache = ms["file"]
	} else {
		u.MemoryRSS = s.MemoryStats.Usage
	}
	return u
}

// cpuPercent is the container's share of the host over the sample
// interval, scaled so one fully used core is 100%.
func cpuPercent(s *container.StatsResponse) float64 {
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	if cpuDelta <= 0 || sysDelta <= 0 {
		return 0
	}
	cpus := float64(s.CPUStats.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	if cpus == 0 {
		cpus = 1
	}
	return cpuDelta / sysDelta * cpus * 100
}
