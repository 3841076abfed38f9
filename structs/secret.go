package structs

// Secret is a task's `secret "name" { provider path config env }` block
// (Nomad 1.11): a secret fetched when the task starts, whose keys the task
// specification references as ${secret.<name>.<key>}. orch has the
// "nomad" provider (a Nomad variable read with the task's identity).
type Secret struct {
	Name     string            `json:"Name"`
	Provider string            `json:"Provider"`
	Path     string            `json:"Path"`
	Config   map[string]any    `json:"Config"`
	Env      map[string]string `json:"Env"`
}

// SecretProviderNomad reads a Nomad variable.
const SecretProviderNomad = "nomad"

// Namespace is the namespace of a nomad-provider secret's variable
// (config namespace, "default" without one, as Nomad documents).
func (s *Secret) Namespace() string {
	if ns, ok := s.Config["namespace"].(string); ok && ns != "" {
		return ns
	}
	return "default"
}
