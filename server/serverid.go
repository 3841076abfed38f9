package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
)

// A server's Raft ID is a UUID persisted in <data-dir>/server/node-id, so a
// server keeps its identity when its address changes and a new server on
// an old address is not mistaken for the old one.
//
// Data dirs written before IDs existed used the Raft address as the ID.
// They are migrated without ever leaving the cluster unable to elect:
//   - a lone server (the only server in its configuration) rewrites its
//     configuration with its new UUID at startup (raft.RecoverCluster, safe
//     with one voter);
//   - a server of a larger cluster keeps its address ID until it leaves
//     gracefully (SIGTERM): once the leader has removed it from the
//     configuration it writes its node-id file, and on restart it joins as
//     a new server under its UUID. A rolling restart migrates a cluster.

const serverIDFile = "node-id"

func serverIDPath(dataDir string) string { return filepath.Join(dataDir, "server", serverIDFile) }

func raftDir(dataDir string) string { return filepath.Join(dataDir, "server", "raft") }

// RaftID returns the Raft ID a server started on dataDir runs with: its
// persisted UUID, created on first start, or for a data dir from before IDs
// existed, its Raft address (see above). The agent advertises it in gossip.
func RaftID(dataDir, raftAddr string) (string, error) {
	if id, err := existingServerID(dataDir); err != nil || id != "" {
		return id, err
	}
	legacy, err := hasRaftState(dataDir)
	if err != nil {
		return "", err
	}
	if legacy {
		return raftAddr, nil
	}
	return createServerID(dataDir)
}

// existingServerID returns the node-id file's ID, "" when there is none.
func existingServerID(dataDir string) (string, error) {
	b, err := os.ReadFile(serverIDPath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("reading server ID: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if _, err := uuid.Parse(id); err != nil {
		return "", fmt.Errorf("server ID file %s holds %q, not a UUID: %w", serverIDPath(dataDir), id, err)
	}
	return id, nil
}

// createServerID writes a new UUID to the node-id file.
func createServerID(dataDir string) (string, error) {
	id := uuid.NewString()
	if err := os.MkdirAll(filepath.Dir(serverIDPath(dataDir)), 0o700); err != nil {
		return "", fmt.Errorf("creating server dir: %w", err)
	}
	if err := writeServerID(dataDir, id); err != nil {
		return "", err
	}
	return id, nil
}

// syncRename renames tmp over path and syncs both, so the file survives a
// crash whole or not at all.
func syncRename(tmp, path string) error {
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	f.Close()
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// hasRaftState reports whether dataDir holds a Raft log, term or snapshot.
func hasRaftState(dataDir string) (bool, error) {
	dir := raftDir(dataDir)
	path := filepath.Join(dir, "raft.db")
	st, err := inspectRaftDB(path)
	if err != nil {
		return false, corruptStoreError("log store", path, err)
	}
	if st.hasState {
		return true, nil
	}
	entries, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("checking raft snapshots: %w", err)
	}
	return len(entries) > 0, nil
}

// raftStores are the on-disk parts Raft runs on.
type raftStores struct {
	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
}

// storedConfiguration reads the Raft configuration from disk without
// starting Raft or restoring the snapshot into the FSM.
func storedConfiguration(st raftStores, logger *slog.Logger) (raft.Configuration, error) {
	rc := raft.DefaultConfig()
	rc.LocalID = "probe"
	rc.NoSnapshotRestoreOnStart = true
	rc.Logger = newHCLogger("raft", slog.New(slog.DiscardHandler))
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	c, err := raft.GetConfiguration(rc, discardFSM{}, st.logs, st.stable, st.snaps, trans)
	if err != nil {
		return raft.Configuration{}, fmt.Errorf("reading the raft configuration: %w", err)
	}
	return c, nil
}

// recoverConfiguration replaces the stored Raft configuration (peers.json
// recovery, or a lone server's ID migration). Raft replays the log into a
// throwaway FSM and writes a snapshot with the new configuration; the
// server's own FSM restores from it when Raft starts.
func recoverConfiguration(st raftStores, conf raft.Configuration, logger *slog.Logger) error {
	store, err := state.NewStore()
	if err != nil {
		return err
	}
	fsm := raftfsm.NewWithOptions(store, raftfsm.Options{Logger: logger})
	rc := raft.DefaultConfig()
	rc.LocalID = conf.Servers[0].ID
	rc.Logger = newHCLogger("raft", logger)
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	if err := raft.RecoverCluster(rc, fsm, st.logs, st.stable, st.snaps, trans, conf); err != nil {
		return fmt.Errorf("recovering the raft configuration: %w", err)
	}
	return nil
}

// discardFSM is an FSM for reading a configuration: nothing is applied.
type discardFSM struct{}

func (discardFSM) Apply(*raft.Log) any                 { return nil }
func (discardFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("not supported") }
func (discardFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

// chooseRaftID settles the ID this server runs with, migrating a lone
// legacy server to its UUID.
func (s *Server) chooseRaftID(st raftStores) (raft.ServerID, error) {
	if s.cfg.legacyAddressID {
		return raft.ServerID(s.raftAddr), nil
	}
	id, err := existingServerID(s.cfg.DataDir)
	if err != nil {
		return "", err
	}
	if id != "" {
		return raft.ServerID(id), nil
	}
	has, err := raft.HasExistingState(st.logs, st.stable, st.snaps)
	if err != nil {
		return "", fmt.Errorf("reading raft state: %w", err)
	}
	if !has {
		id, err := createServerID(s.cfg.DataDir)
		return raft.ServerID(id), err
	}
	conf, err := storedConfiguration(st, s.logger)
	if err != nil {
		return "", err
	}
	if len(conf.Servers) != 1 || string(conf.Servers[0].ID) != s.raftAddr {
		s.logger.Warn("this server's data dir predates server IDs: it keeps its address as its Raft ID until it leaves the cluster gracefully (SIGTERM), then rejoins under a UUID",
			"raft_id", s.raftAddr)
		return raft.ServerID(s.raftAddr), nil
	}
	uid := uuid.NewString()
	conf.Servers[0].ID = raft.ServerID(uid)
	if err := recoverConfiguration(st, conf, s.cfg.Logger); err != nil {
		return "", err
	}
	if err := writeServerID(s.cfg.DataDir, uid); err != nil {
		return "", err
	}
	s.logger.Info("migrated this lone server's Raft ID from its address to a UUID", "raft_id", uid)
	return raft.ServerID(uid), nil
}

// writeServerID persists id as this data dir's server ID.
func writeServerID(dataDir, id string) error {
	tmp := serverIDPath(dataDir) + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing server ID: %w", err)
	}
	if err := syncRename(tmp, serverIDPath(dataDir)); err != nil {
		return fmt.Errorf("writing server ID: %w", err)
	}
	return nil
}
