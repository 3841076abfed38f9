package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
)

// Table names. The string values double as keys of the "index" table, so
// Index("jobs") answers which Raft entry last touched the jobs table.
const (
	TableJobs       = "jobs"
	TableJobVersion = "job_version"
	TableJobSummary = "job_summary"
	TableNodes      = "nodes"
	TableAllocs     = "allocs"
	TableEvals      = "evals"
	TableIndex      = "index"

	// tableJobCounts is internal bookkeeping: per-job counts of live and
	// total allocs/evals so a job's status is derived in O(1) instead of
	// rescanning the job's allocations on every client update.
	tableJobCounts = "job_counts"
)

// maxJobVersions is how many versions of a job are retained; Nomad keeps six.
const maxJobVersions = 6

// IndexEntry is one row of the "index" table: the last Raft index that
// wrote the named table.
type IndexEntry struct {
	Key   string `json:"Key"`
	Value uint64 `json:"Value"`
}

// jobCounts tracks a job's allocations and evaluations by namespace and job
// ID. It is keyed independently of the job row because allocs and evals
// outlive a purge, exactly as a rescan by job ID would see them.
type jobCounts struct {
	Namespace  string
	JobID      string
	Allocs     int
	LiveAllocs int
	Evals      int
	LiveEvals  int
}

func nsIDIndex(nsField, idField string) *memdb.CompoundIndex {
	return &memdb.CompoundIndex{Indexes: []memdb.Indexer{
		&memdb.StringFieldIndex{Field: nsField},
		&memdb.StringFieldIndex{Field: idField},
	}}
}

func schema() *memdb.DBSchema {
	s := coreSchema()
	// Tables of other concepts live in their own files.
	for _, part := range []map[string]*memdb.TableSchema{serviceSchema(), variableSchema(), keyringSchema(), scalingSchema(), autopilotSchema(), lifecycleSchema()} {
		for name, tbl := range part {
			s.Tables[name] = tbl
		}
	}
	return s
}

func coreSchema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		TableJobs: {
			Name: TableJobs,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: nsIDIndex("Namespace", "ID")},
				// jobid serves prefix lookups across all namespaces.
				"jobid": {Name: "jobid", Indexer: &memdb.StringFieldIndex{Field: "ID"}},
				// parent lists the children of periodic and parameterized jobs.
				"parent": {Name: "parent", AllowMissing: true, Indexer: parentIndexer{}},
				// dispatch_token finds a dispatched child by its idempotency token.
				"dispatch_token": {Name: "dispatch_token", AllowMissing: true, Indexer: tokenIndexer{}},
				// periodic holds only the jobs the periodic dispatcher launches.
				"periodic": {Name: "periodic", AllowMissing: true, Indexer: periodicIndex()},
			},
		},
		TableJobVersion: {
			Name: TableJobVersion,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
					&memdb.StringFieldIndex{Field: "Namespace"},
					&memdb.StringFieldIndex{Field: "ID"},
					&memdb.UintFieldIndex{Field: "Version"},
				}}},
				"job": {Name: "job", Indexer: nsIDIndex("Namespace", "ID")},
			},
		},
		TableJobSummary: {
			Name: TableJobSummary,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: nsIDIndex("Namespace", "JobID")},
			},
		},
		TableNodes: {
			Name: TableNodes,
			Indexes: map[string]*memdb.IndexSchema{
				"id":   {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
				"name": {Name: "name", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Name"}},
				// draining holds only the nodes being drained, for the
				// node drainer.
				"draining": {Name: "draining", AllowMissing: true, Indexer: drainingIndex()},
			},
		},
		TableAllocs: {
			Name: TableAllocs,
			Indexes: map[string]*memdb.IndexSchema{
				"id":    {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
				"ns_id": {Name: "ns_id", Unique: true, Indexer: nsIDIndex("Namespace", "ID")},
				"job":   {Name: "job", AllowMissing: true, Indexer: nsIDIndex("Namespace", "JobID")},
				"node":  {Name: "node", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "NodeID"}},
				"eval":  {Name: "eval", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "EvalID"}},
			},
		},
		TableEvals: {
			Name: TableEvals,
			Indexes: map[string]*memdb.IndexSchema{
				"id":    {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
				"ns_id": {Name: "ns_id", Unique: true, Indexer: nsIDIndex("Namespace", "ID")},
				"job":   {Name: "job", AllowMissing: true, Indexer: nsIDIndex("Namespace", "JobID")},
			},
		},
		TableIndex: {
			Name: TableIndex,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
			},
		},
		tableJobCounts: {
			Name: tableJobCounts,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: nsIDIndex("Namespace", "JobID")},
			},
		},
	}}
}

// fullSchema is the core schema plus the tables each concept adds from its
// own file.
func fullSchema() *memdb.DBSchema {
	s := schema()
	for _, extra := range []map[string]*memdb.TableSchema{namespaceTables(), aclTables(), deploymentTables(), jobVersionTables()} {
		for name, t := range extra {
			s.Tables[name] = t
		}
	}
	return s
}

func newMemDB() (*memdb.MemDB, error) {
	db, err := memdb.NewMemDB(fullSchema())
	if err != nil {
		return nil, fmt.Errorf("create state database: %w", err)
	}
	return db, nil
}
