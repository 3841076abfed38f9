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
