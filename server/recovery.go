package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// peers.json recovery (docs/operations.md "Recovering from lost quorum"):
// with every server stopped, an operator writes the servers that remain,
// as [{"id": "<node-id>", "address": "<ip>:4647", "non_voter": false}], to
// <data-dir>/server/raft/peers.json on each of them. On start the server
// replaces its Raft configuration with that list (raft.RecoverCluster),
// keeping its log and state, and deletes the file so the recovery happens
// once.

const peersFile = "peers.json"

func (s *Server) recoverFromPeersJSON(st raftStores) error {
	path := filepath.Join(raftDir(s.cfg.DataDir), peersFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	conf, err := raft.ReadConfigJSON(path)
	if err != nil {
		return fmt.Errorf(`reading %s (expected [{"id": ..., "address": ..., "non_voter": false}]): %w`, path, err)
	}
	s.logger.Warn("recovering the raft configuration from peers.json", "file", path, "servers", fmt.Sprintf("%+v", conf.Servers))
	if err := recoverConfiguration(st, conf, s.cfg.Logger); err != nil {
		return fmt.Errorf("peers.json recovery: %w", err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("peers.json recovery done, but removing %s failed (remove it before the next start): %w", path, err)
	}
	s.logger.Info("raft configuration recovered from peers.json; the file was removed")
	return nil
}
