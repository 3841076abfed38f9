package control

// MethodSignIdentities asks the servers for the workload identities of
// tasks of an allocation the calling node runs. Auth: AuthNode.
const MethodSignIdentities = "Alloc.SignIdentities"

// SignIdentitiesRequest names the allocation and its tasks.
type SignIdentitiesRequest struct {
	AllocID string   `json:"AllocID"`
	Tasks   []string `json:"Tasks"`
}

// SignIdentitiesResponse carries each task's signed JWT (tasks without an
// identity block get none).
type SignIdentitiesResponse struct {
	Identities map[string]string `json:"Identities"`
}
