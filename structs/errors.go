package structs

import "errors"

// Errors of operators' actions on an allocation a client runs (restart,
// signal, exec), which the HTTP layer answers with 404.
var (
	// ErrUnknownAllocation: the node does not run the allocation.
	ErrUnknownAllocation = errors.New("Unknown allocation")
	// ErrUnknownTask: the allocation has no task of that name.
	ErrUnknownTask = errors.New("Unknown task name")
)
