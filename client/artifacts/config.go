// Package artifacts is the client hook that fetches a task's `artifact`
// blocks into its directory before it starts ("Downloading Artifacts"),
// with hashicorp/go-getter: http(s), file, git and hg sources, checksums,
// archives unpacked, headers, modes, chown.
//
// Every task is hostile and the agent is root, so a fetch is confined:
//   - it runs in a helper process (this binary re-executed) that, on
//     kernels with Landlock, may write only to a fresh staging directory
//     no task can see and read only the system files networking needs,
//     the task's own directory and the operator's extra paths
//     (file:///etc/shadow fails; an archive entry that escapes cannot
//     land anywhere else);
//   - go-getter refuses `..` in archive entries and, with symlinks
//     disabled, links of any kind; the staged tree is checked again
//     (regular files and directories only) before it is moved into the
//     task's directory through safefs, which never follows a link the
//     task planted at the destination;
//   - limits bound each artifact: the HTTP read timeout and size, the git
//     and hg timeouts, and the size and file count an archive may unpack
//     to (the client's `artifact {}` block, with Nomad's defaults).
//
// A fetched artifact is not fetched again: the hook records its progress
// with the task, so neither a task restart nor an agent restart repeats it.
// A failure is a "Failed Artifact Download" event and goes through the
// task's restart policy; a destination outside the task directory fails
// the task at once.
package artifacts

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is the client's `artifact {}` block.
type Config struct {
	// HTTPReadTimeout bounds reading an HTTP response (http_read_timeout).
	HTTPReadTimeout time.Duration
	// HTTPMaxBytes bounds an HTTP download (http_max_size).
	HTTPMaxBytes int64
	// GitTimeout and HgTimeout bound a clone (git_timeout, hg_timeout).
	GitTimeout time.Duration
	HgTimeout  time.Duration
	// DecompressionSizeLimit bounds what an archive unpacks to, per file
	// (decompression_size_limit); DecompressionFileCountLimit bounds the
	// number of files (decompression_file_count_limit). 0 means no limit.
	DecompressionSizeLimit      int64
	DecompressionFileCountLimit int
	// DisableFilesystemIsolation fetches in the agent's own process,
	// without the sandbox (disable_filesystem_isolation).
	DisableFilesystemIsolation bool
	// ExtraReadPaths are further host paths the sandbox may read
	// (filesystem_isolation_extra_paths, "r:/path"; only read access is
	// offered).
	ExtraReadPaths []string
	// SetEnvironmentVariables names agent environment variables passed
	// to the fetch (set_environment_variables), e.g. proxies.
	SetEnvironmentVariables []string
}

// DefaultConfig is Nomad's defaults for the artifact block.
func DefaultConfig() Config {
	return Config{
		HTTPReadTimeout:             30 * time.Minute,
		HTTPMaxBytes:                100e9,
		GitTimeout:                  30 * time.Minute,
		HgTimeout:                   30 * time.Minute,
		DecompressionSizeLimit:      100e9,
		DecompressionFileCountLimit: 4096,
	}
}

// ParseSize reads a size as Nomad's agent config writes it: a number of
// bytes with an optional unit, decimal (KB, MB, GB, TB) or binary (KiB,
// MiB, GiB, TiB), e.g. "100GB", "512MiB", "1024".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q", s, unit)
	}
	v := f * mult
	if v > float64(1<<62) {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}
