package drivers

import "errors"

// NonRecoverableError marks an error that retrying cannot fix: a host
// policy refusal (privileged, a denied user, a capability outside the
// allowlist), a config the driver rejects, a hook whose input is wrong. The
// task runner fails the task at once with Err's message instead of going
// through the restart policy, so the allocation fails and the servers can
// reschedule it (or report it) rather than retry it forever.
//
// Every other error from a driver or a hook is recoverable: the task is
// restarted per its restart policy.
type NonRecoverableError struct {
	Err error
}

func (e *NonRecoverableError) Error() string { return e.Err.Error() }

// Unwrap lets errors.Is/As see the cause.
func (e *NonRecoverableError) Unwrap() error { return e.Err }

// NonRecoverable wraps err as non-recoverable; nil stays nil.
func NonRecoverable(err error) error {
	if err == nil {
		return nil
	}
	var nr *NonRecoverableError
	if errors.As(err, &nr) {
		return err
	}
	return &NonRecoverableError{Err: err}
}

// IsNonRecoverable reports whether err (or an error it wraps) was marked
// with NonRecoverable.
func IsNonRecoverable(err error) bool {
	var nr *NonRecoverableError
	return errors.As(err, &nr)
}
