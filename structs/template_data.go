package structs

import "time"

// The data templates read, as a client's one shared watcher asks the
// servers for it: a set of dependencies, each with the hash of the result
// the client holds; the servers answer when any result differs.

// Kinds of template dependencies.
const (
	TemplateDepService   = "service"   // the instances of one service
	TemplateDepServices  = "services"  // a namespace's services and tags
	TemplateDepVariable  = "variable"  // one variable
	TemplateDepVariables = "variables" // the variables under a prefix
)

// TemplateDep is one piece of data some template reads.
type TemplateDep struct {
	Kind      string `json:"Kind"`
	Namespace string `json:"Namespace"`
	// Name is the service name, or the variable path or prefix.
	Name string `json:"Name,omitempty"`
	// AllocID and Task name the workload reading a variable: its access
	// is the workload's implicit policy, checked by the servers.
	AllocID string `json:"AllocID,omitempty"`
	Task    string `json:"Task,omitempty"`
}

// Key identifies a dependency.
func (d TemplateDep) Key() string {
	return d.Kind + "\x00" + d.Namespace + "\x00" + d.Name + "\x00" + d.AllocID + "\x00" + d.Task
}

// TemplateDepState is a dependency with the hash of the client's result
// ("" when it has none).
type TemplateDepState struct {
	Dep  TemplateDep `json:"Dep"`
	Hash string      `json:"Hash"`
}

// TemplateWatchRequest asks for the dependencies whose results differ
// from the client's, waiting up to MaxWait for one to change.
type TemplateWatchRequest struct {
	Deps    []*TemplateDepState `json:"Deps"`
	MaxWait time.Duration       `json:"MaxWait"`
}

// TemplateDepResult is one dependency's current result.
type TemplateDepResult struct {
	Dep  TemplateDep `json:"Dep"`
	Hash string      `json:"Hash"`
	// One of these, by Dep.Kind (Variable nil: it does not exist).
	Services     []*ServiceRegistration     `json:"Services,omitempty"`
	ServiceStubs []*ServiceRegistrationStub `json:"ServiceStubs,omitempty"`
	Variable     *VariableDecrypted         `json:"Variable,omitempty"`
	Variables    []*VariableMetadata        `json:"Variables,omitempty"`
	// Error is why the dependency cannot be read (e.g. not the
	// workload's variable); it counts as the result.
	Error string `json:"Error,omitempty"`
}

// TemplateWatchResponse carries the changed results (none when MaxWait
// passed without a change).
type TemplateWatchResponse struct {
	Results []*TemplateDepResult `json:"Results"`
	Index   uint64               `json:"Index"`
}
