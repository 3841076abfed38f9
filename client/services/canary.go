package services

import "github.com/orch-project/orch/structs"

// isCanary reports whether the allocation is a deployment's canary not yet
// promoted, whose services carry canary_tags and canary_meta. Promotion
// clears the flag on the servers, and the allocation's update re-registers
// its services with the normal tags.
func isCanary(a *structs.Allocation) bool { return a.DeploymentStatus.IsCanary() }
