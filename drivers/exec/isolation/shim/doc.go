// Package shim holds the tiny supervising process of exec and raw_exec
// tasks. It is C code run from an ELF constructor when the orch binary is
// re-executed with the marker variable set, so the Go runtime never starts
// in it and each task pays a few hundred KiB for its supervisor. Importing
// the package (blank) is what links the constructor in.
//
// Contract (shared with drivers/exec/isolation and drivers/rawexec):
// environment EnvMarker=ModeExec|ModeRaw; fd 3 the exit status file (the
// shim writes "<code> <signal>\n" at offset 0 before it exits with code);
// fd 4 (raw mode, optional) the task's directory, entered with fchdir;
// fd 5 a close-on-exec pipe that receives the errno when the command cannot
// be executed. Mode raw takes argv <exe> <path> <argv0> <args...>, leaves
// the task in the shim's process group, forwards signals sent with kill()
// to the whole group and signals queued with sigqueue (SI_QUEUE) to the
// task's main process only.
package shim

// Contract values; see the package documentation.
const (
	EnvMarker = "__ORCH_EXEC_SHIM"
	ModeExec  = "1"
	ModeRaw   = "2"
	StatusFD  = 3
	ErrFD     = 5
)
