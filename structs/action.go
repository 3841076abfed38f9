package structs

// Action is a task's `action "name" { command args }` block: a command an
// operator with alloc-exec runs inside the running task by name (`nomad
// action`, GET /v1/job/<id>/action), without being able to choose any
// other command.
type Action struct {
	Name    string   `json:"Name"`
	Command string   `json:"Command"`
	Args    []string `json:"Args"`
}

// MaxActionNameLen is the longest action name Nomad accepts.
const MaxActionNameLen = 128

// LookupAction returns the task's action of that name, or nil.
func (t *Task) LookupAction(name string) *Action {
	for _, a := range t.Actions {
		if a != nil && a.Name == name {
			return a
		}
	}
	return nil
}

// CommandLine is the action's command followed by its arguments.
func (a *Action) CommandLine() []string {
	return append([]string{a.Command}, a.Args...)
}
