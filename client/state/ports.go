package state

import (
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/orch-project/orch/structs"
)

// PutPorts stores the host ports the client assigned to an allocation, so
// that a restarted client hands the same ports to re-attached tasks.
func (d *DB) PutPorts(allocID string, ports []structs.AllocatedPort) error {
	b, err := json.Marshal(ports)
	if err != nil {
		return fmt.Errorf("encoding ports of alloc %s: %w", allocID, err)
	}
	if err := d.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPorts).Put([]byte(allocID), b)
	}); err != nil {
		return fmt.Errorf("storing ports of alloc %s: %w", allocID, err)
	}
	return nil
}

// DeletePorts forgets an allocation's ports.
func (d *DB) DeletePorts(allocID string) error {
	if err := d.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPorts).Delete([]byte(allocID))
	}); err != nil {
		return fmt.Errorf("deleting ports of alloc %s: %w", allocID, err)
	}
	return nil
}

// Ports loads every stored port assignment by allocation ID. Entries that
// do not decode are skipped and reported in the error.
func (d *DB) Ports() (map[string][]structs.AllocatedPort, error) {
	out := map[string][]structs.AllocatedPort{}
	var bad []error
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPorts).ForEach(func(k, v []byte) error {
			var ps []structs.AllocatedPort
			if err := json.Unmarshal(v, &ps); err != nil {
				bad = append(bad, fmt.Errorf("decoding ports of alloc %s: %w", k, err))
				return nil
			}
			out[string(k)] = ps
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("loading ports: %w", err)
	}
	return out, errors.Join(bad...)
}
