package artifacts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// helperEnv marks the re-executed binary as an artifact fetch helper; main
// must hand over to HelperMain before anything else (see IsHelper).
const helperEnv = "__ORCH_ARTIFACT_HELPER"

// IsHelper reports whether this process was started as a fetch helper.
func IsHelper() bool { return os.Getenv(helperEnv) == "1" }

// HelperMain runs one fetch described on stdin, confined (see package doc),
// and exits: 0 on success, 1 with the error on stderr.
func HelperMain() {
	var req fetchRequest
	if err := json.NewDecoder(io.LimitReader(os.Stdin, 1<<20)).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "artifact helper: reading request:", err)
		os.Exit(2)
	}
	if req.Isolate {
		if err := confine(req.Staging, req.ReadPaths); err != nil {
			fmt.Fprintln(os.Stderr, "artifact helper: filesystem isolation:", err)
			os.Exit(2)
		}
	}
	if err := fetch(context.Background(), &req); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helperExe is the binary re-executed as the helper; tests replace it
// with their own binary (whose TestMain dispatches IsHelper).
var helperExe = func() (string, error) { return os.Executable() }

// runFetch fetches in a helper process; ctx ending kills it. The helper
// gets a minimal environment: TMPDIR and HOME inside the staging dir, a
// PATH for git and hg, and the variables the operator passes on.
func runFetch(ctx context.Context, req *fetchRequest, tmp, home string) error {
	exe, err := helperExe()
	if err != nil {
		return fmt.Errorf("finding the artifact helper: %w", err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Stdin = bytes.NewReader(body)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	cmd.Env = []string{
		helperEnv + "=1",
		"TMPDIR=" + tmp, "HOME=" + home,
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		// The sandbox cannot read cgroup files: no periodic GOMAXPROCS
		// updates from them.
		"GODEBUG=updatemaxprocs=0",
		// git must never prompt for credentials.
		"GIT_TERMINAL_PROMPT=0",
	}
	for _, k := range req.Limits.SetEnvironmentVariables {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	err = cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	msg := strings.TrimSpace(stderr.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) && msg != "" {
		return errors.New(msg)
	}
	if msg != "" {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return fmt.Errorf("artifact helper: %w", err)
}

// limitedBuffer keeps the first 64 KiB written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 64<<10 - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
