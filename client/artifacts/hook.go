package artifacts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// Setup is what the client gives the hook: the artifact block and where
// fetches are staged (a directory under the agent's data dir, on the
// same file system as the allocations, that no task can see).
type Setup struct {
	Config Config
	// DataDir is the agent's data dir: staging is DataDir/artifacts, and
	// results move from there into DataDir/alloc/<id>/<task>.
	DataDir string
	Logger  *slog.Logger
}

// warnOnce logs once per agent that fetches run without isolation.
var warnOnce sync.Once

// HookFactory builds the hook for tasks with artifacts.
func HookFactory(s Setup) hooks.TaskHookFactory {
	return func(cfg *hooks.TaskHookConfig) hooks.Hook {
		if len(cfg.Task.Artifacts) == 0 {
			return nil
		}
		isolate := !s.Config.DisableFilesystemIsolation && IsolationAvailable()
		if !s.Config.DisableFilesystemIsolation && !isolate && s.Logger != nil {
			warnOnce.Do(func() {
				s.Logger.Warn("artifacts are fetched without filesystem isolation: the kernel has no Landlock")
			})
		}
		return &hook{setup: s, cfg: cfg, isolate: isolate}
	}
}

type hook struct {
	setup   Setup
	cfg     *hooks.TaskHookConfig
	isolate bool
}

func (*hook) Name() string { return "artifacts" }

// Prestart fetches the artifacts not fetched yet, in order, and marks the
// hook done once all are there. Progress is kept in Data, so a failure
// after the first artifact does not fetch the first again.
func (h *hook) Prestart(ctx context.Context, req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
	done := 0
	if n, err := strconv.Atoi(req.Data["fetched"]); err == nil && n >= 0 {
		done = n
	}
	arts := req.Task.Artifacts
	if done >= len(arts) {
		resp.Done = true
		return nil
	}
	h.cfg.Events(&structs.TaskEvent{Type: structs.TaskDownloadingArtifacts, DisplayMessage: "Client is downloading artifacts"})
	for i := done; i < len(arts); i++ {
		if err := h.fetchOne(ctx, req.TaskEnv, req.Task, arts[i]); err != nil {
			resp.Data = map[string]string{"fetched": strconv.Itoa(i)}
			msg := fmt.Sprintf("failed to download artifact %q: %v", arts[i].GetterSource, err)
			h.cfg.Events(&structs.TaskEvent{Type: structs.TaskArtifactDownloadFailed, Message: msg,
				Details: map[string]string{"download_error": msg}, DisplayMessage: msg})
			if drivers.IsNonRecoverable(err) {
				return drivers.NonRecoverable(errors.New(msg))
			}
			return errors.New(msg)
		}
	}
	resp.Data = map[string]string{"fetched": strconv.Itoa(len(arts))}
	resp.Done = true
	return nil
}

// fetchOne fetches one artifact into a fresh staging directory and moves
// the result into the task's directory.
func (h *hook) fetchOne(ctx context.Context, env *taskenv.Env, task *structs.Task, a *structs.TaskArtifact) error {
	if a == nil {
		return drivers.NonRecoverable(errors.New("null artifact"))
	}
	src := env.ReplaceString(a.GetterSource)
	opts := make(map[string]string, len(a.GetterOptions))
	for k, v := range a.GetterOptions {
		opts[k] = env.ReplaceString(v)
	}
	headers := make(map[string]string, len(a.GetterHeaders))
	for k, v := range a.GetterHeaders {
		headers[k] = env.ReplaceString(v)
	}
	mode := a.GetterMode
	if mode == "" {
		mode = "any"
	}
	dest, err := TaskDest(env.ReplaceString(a.RelativeDest))
	if err != nil {
		return drivers.NonRecoverable(err)
	}
	source, err := SourceWithOptions(src, opts)
	if err != nil {
		return drivers.NonRecoverable(err)
	}
	if err := checkSource(source); err != nil {
		return drivers.NonRecoverable(err)
	}
	st, err := newStaging(h.setup.DataDir)
	if err != nil {
		return err
	}
	defer st.remove()
	dst := st.out
	if mode == "file" {
		dst = filepath.Join(st.out, "file")
	}
	limits := h.setup.Config
	req := &fetchRequest{
		Source: source, Dst: dst, Mode: mode, Headers: headers, Insecure: a.GetterInsecure,
		Pwd: h.cfg.TaskDir.Dir, Limits: limits, Staging: st.dir, Isolate: h.isolate,
		ReadPaths: append(append(readPaths(), h.cfg.TaskDir.Dir), limits.ExtraReadPaths...),
	}
	if h.setup.Config.DisableFilesystemIsolation {
		err = fetchInProcess(ctx, req, st)
	} else {
		err = runFetch(ctx, req, st.tmp, st.home)
	}
	if err != nil {
		return err
	}
	owner, err := chownTo(a.Chown, task, h.cfg.Driver)
	if err != nil {
		return drivers.NonRecoverable(err)
	}
	return place(h.setup.DataDir, st, h.cfg.AllocDir.Root, task.Name, dest, mode, owner)
}

// TaskDest cleans an artifact's destination, relative to the task's
// directory; one that leaves it is refused.
func TaskDest(d string) (string, error) {
	if strings.ContainsRune(d, 0) {
		return "", fmt.Errorf("artifact destination %q contains NUL", d)
	}
	c := path.Clean("/" + strings.TrimPrefix(d, "/"))
	for _, el := range strings.Split(d, "/") {
		if el == ".." {
			return "", fmt.Errorf("artifact destination %q escapes the task directory", d)
		}
	}
	return strings.TrimPrefix(c, "/"), nil
}

// checkSource refuses sources orch cannot fetch (cloud storage needs
// credentials and SDKs orch does not ship), with the reason.
func checkSource(src string) error {
	if m := forced.FindStringSubmatch(src); m != nil {
		switch strings.ToLower(m[1]) {
		case "s3", "gcs":
			return fmt.Errorf("%s artifact sources are not supported: fetch the object over https instead", m[1])
		}
	}
	low := strings.ToLower(src)
	for _, p := range []string{"s3://", "gs://", "gcs://"} {
		if strings.HasPrefix(low, p) {
			return fmt.Errorf("%s artifact sources are not supported: fetch the object over https instead", strings.TrimSuffix(p, "://"))
		}
	}
	return nil
}

// readPaths are the host paths a confined fetch may read: programs and
// libraries (git, hg), TLS roots, name resolution, and the user database
// git and ssh consult. Nothing else of /etc, and nothing of /proc, /sys,
// /home, /root or /var.
func readPaths() []string {
	return []string{
		"/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin",
		"/etc/ssl", "/etc/pki", "/etc/ca-certificates", "/etc/ca-certificates.conf",
		"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
		"/etc/services", "/etc/protocols", "/etc/passwd", "/etc/group", "/etc/localtime",
		"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/gitconfig", "/etc/mercurial",
		"/etc/ssh/ssh_config", "/etc/ssh/ssh_config.d", "/etc/ssh/ssh_known_hosts", "/etc/mime.types",
		"/dev/urandom", "/dev/random",
	}
}

// staging is one fetch's private directory: out/ receives the artifact,
// tmp/ and home/ serve go-getter, git and hg.
type staging struct {
	dir, out, tmp, home string
}

func newStaging(dataDir string) (*staging, error) {
	base := filepath.Join(dataDir, "artifacts")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, fmt.Errorf("creating artifact staging dir: %w", err)
	}
	dir, err := os.MkdirTemp(base, "fetch-")
	if err != nil {
		return nil, fmt.Errorf("creating artifact staging dir: %w", err)
	}
	st := &staging{dir: dir, out: filepath.Join(dir, "out"), tmp: filepath.Join(dir, "tmp"), home: filepath.Join(dir, "home")}
	for _, d := range []string{st.out, st.tmp, st.home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			st.remove()
			return nil, fmt.Errorf("creating artifact staging dir: %w", err)
		}
	}
	return st, nil
}

func (s *staging) remove() { _ = os.RemoveAll(s.dir) }

// fetchInProcess fetches without the sandbox (disable_filesystem_isolation);
// go-getter's temporary files still go to the staging dir.
func fetchInProcess(ctx context.Context, req *fetchRequest, st *staging) error {
	old, had := os.LookupEnv("TMPDIR")
	tmpMu.Lock()
	defer tmpMu.Unlock()
	os.Setenv("TMPDIR", st.tmp)
	defer func() {
		if had {
			os.Setenv("TMPDIR", old)
		} else {
			os.Unsetenv("TMPDIR")
		}
	}()
	return fetch(ctx, req)
}

// tmpMu serializes in-process fetches, which share TMPDIR.
var tmpMu sync.Mutex
