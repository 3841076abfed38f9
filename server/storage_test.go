package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/structs"
)

// populatedDataDir runs a server that stores a few jobs (and, with
// snapshot, takes a Raft snapshot), stops it and returns its config.
func populatedDataDir(t *testing.T, snapshot bool) Config {
	t.Helper()
	s := testServer(t, t.TempDir())
	for i := 0; i < 20; i++ {
		job := testJob(fmt.Sprintf("j%d", i), 1, 64)
		job.Type = structs.JobTypeBatch
		if _, err := s.RegisterJob(context.Background(), &structs.JobRegisterRequest{Job: job}); err != nil {
			t.Fatal(err)
		}
	}
	if snapshot {
		if err := s.raft.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := s.cfg
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startExpectingDamage starts a server on a damaged data dir and requires
// a startup error naming the file and the way out.
func startExpectingDamage(t *testing.T, cfg Config, file string) {
	t.Helper()
	s, err := New(cfg)
	if err == nil {
		s.Shutdown()
		t.Fatalf("a server started on a damaged %s", file)
	}
	msg := err.Error()
	if !strings.Contains(msg, file) || !strings.Contains(msg, "To recover") {
		t.Fatalf("startup error does not name %s and the recovery: %v", file, err)
	}
	t.Logf("startup refused: %.160s...", msg)
}

func TestDamagedRaftDBIsAClearStartupError(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, path string){
		"truncated": func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			must(t, os.Truncate(path, fi.Size()/3))
		},
		"scribbled": func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			must(t, err)
			defer f.Close()
			fi, _ := f.Stat()
			junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
			for off := int64(4096 * 2); off < fi.Size(); off += 4096 * 3 {
				_, err := f.WriteAt(junk, off)
				must(t, err)
			}
		},
		"zeroed header": func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			must(t, err)
			defer f.Close()
			_, err = f.WriteAt(make([]byte, 8192), 0)
			must(t, err)
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := populatedDataDir(t, false)
			path := filepath.Join(raftDir(cfg.DataDir), "raft.db")
			damage(t, path)
			startExpectingDamage(t, cfg, path)
		})
	}
}

func TestDamagedSnapshotIsAClearStartupError(t *testing.T) {
	newest := func(t *testing.T, cfg Config) string {
		entries, err := os.ReadDir(filepath.Join(raftDir(cfg.DataDir), "snapshots"))
		must(t, err)
		if len(entries) == 0 {
			t.Fatal("no snapshot taken")
		}
		return filepath.Join(raftDir(cfg.DataDir), "snapshots", entries[len(entries)-1].Name())
	}
	t.Run("state flipped", func(t *testing.T) {
		cfg := populatedDataDir(t, true)
		dir := newest(t, cfg)
		path := filepath.Join(dir, "state.bin")
		b, err := os.ReadFile(path)
		must(t, err)
		b[len(b)/2] ^= 0xff
		must(t, os.WriteFile(path, b, 0o600))
		startExpectingDamage(t, cfg, dir)
	})
	t.Run("meta unreadable", func(t *testing.T) {
		cfg := populatedDataDir(t, true)
		dir := newest(t, cfg)
		must(t, os.WriteFile(filepath.Join(dir, "meta.json"), []byte("{not json"), 0o600))
		startExpectingDamage(t, cfg, dir)
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
