package server

import (
	"fmt"

	"github.com/orch-project/orch/structs"
)

// DefaultMaxGroupCount bounds a group's count when the server config sets
// none (server { job_max_count }). The scheduler spends nothing per
// instance it cannot place, so this bounds what placing costs instead: one
// allocation (and its share of one plan's Raft entry) per instance. 10,000
// keeps one evaluation's plan to tens of megabytes while staying above the
// groups Nomad users run in practice.
const DefaultMaxGroupCount = 10_000

func (s *Server) maxGroupCount() int {
	if s.cfg.MaxGroupCount > 0 {
		return s.cfg.MaxGroupCount
	}
	return DefaultMaxGroupCount
}

// checkGroupCounts refuses a job with a group count beyond the maximum.
func (s *Server) checkGroupCounts(job *structs.Job) error {
	limit := s.maxGroupCount()
	for _, tg := range job.TaskGroups {
		if tg != nil && tg.Count > limit {
			return countError(tg.Name, int64(tg.Count), limit)
		}
	}
	return nil
}

func countError(group string, count int64, limit int) error {
	return fmt.Errorf("%w: group %q -> count: %d is more than the server's maximum of %d (server { job_max_count })",
		ErrBadInput, group, count, limit)
}
