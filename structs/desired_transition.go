package structs

// DesiredTransition is what the servers ask of an allocation beyond its
// desired status, in Nomad's wire shape (each field null when unset).
type DesiredTransition struct {
	// Migrate: move the allocation off a draining node.
	Migrate *bool `json:"Migrate"`
	// Reschedule: replace the allocation even though it has not failed.
	Reschedule *bool `json:"Reschedule"`
	// ForceReschedule: reschedule regardless of the reschedule policy.
	ForceReschedule *bool `json:"ForceReschedule"`
	// NoShutdownDelay: stop the allocation without waiting out its group
	// and task shutdown_delay (`job stop -no-shutdown-delay`).
	NoShutdownDelay *bool `json:"NoShutdownDelay"`
}

// ShouldIgnoreShutdownDelay reports whether the stop skips shutdown delays.
func (d DesiredTransition) ShouldIgnoreShutdownDelay() bool {
	return d.NoShutdownDelay != nil && *d.NoShutdownDelay
}

// Merge returns d with the fields set in o replacing its own.
func (d DesiredTransition) Merge(o DesiredTransition) DesiredTransition {
	if o.Migrate != nil {
		d.Migrate = o.Migrate
	}
	if o.Reschedule != nil {
		d.Reschedule = o.Reschedule
	}
	if o.ForceReschedule != nil {
		d.ForceReschedule = o.ForceReschedule
	}
	if o.NoShutdownDelay != nil {
		d.NoShutdownDelay = o.NoShutdownDelay
	}
	return d
}

// JobDeregisterOptions are the choices of a job stop (DELETE /v1/job/<id>).
type JobDeregisterOptions struct {
	// Purge removes the job from the state instead of marking it stopped.
	Purge bool
	// NoShutdownDelay skips the group and task shutdown_delay of the
	// allocations the stop kills.
	NoShutdownDelay bool
	// EvalPriority, when non-zero, overrides the job's priority for the
	// evaluation the stop creates (1-100).
	EvalPriority int
}

// ShouldMigrate reports whether the allocation is to be migrated.
func (d DesiredTransition) ShouldMigrate() bool { return d.Migrate != nil && *d.Migrate }

// ShouldReschedule reports whether a failed allocation may be replaced
// even inside an active deployment.
func (d DesiredTransition) ShouldReschedule() bool { return d.Reschedule != nil && *d.Reschedule }

// ShouldForceReschedule reports whether a failed allocation is to be
// replaced now, whatever its reschedule policy allows.
func (d DesiredTransition) ShouldForceReschedule() bool {
	return d.ForceReschedule != nil && *d.ForceReschedule
}
