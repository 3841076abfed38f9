//go:build linux && cgo

package isolation

/*
#cgo CFLAGS: -Wall -O2
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

// The supervising shim runs as the container's init process. It lives in a C
// constructor so the orch binary re-exec'd as a shim never starts the Go
// runtime: its resident memory is a few hundred KiB of libc pages instead of a
// Go heap, scheduler threads and GC. The fd numbers and the environment marker
// are the contract with shim.go.
#define ORCH_SHIM_ENV "__ORCH_EXEC_SHIM"
#define ORCH_SHIM_STATUS_FD 3
#define ORCH_SHIM_EXE_FD 4
#define ORCH_SHIM_ERR_FD 5

static char **orch_shim_argv(void) {
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);
	if (buf == NULL) {
		close(fd);
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				close(fd);
				return NULL;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	size_t argc = 0;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			argc++;
	char **argv = calloc(argc + 1, sizeof(char *));
	if (argv == NULL)
		return NULL;
	size_t a = 0;
	for (size_t i = 0; i < len && a < argc; a++) {
		argv[a] = buf + i;
		i += strlen(buf + i) + 1;
	}
	return argv;
}

static void orch_shim_record(int code, int sig) {
	char b[64];
	int n = snprintf(b, sizeof(b), "%d %d\n", code, sig);
	if (n > 0) {
		ssize_t w = pwrite(ORCH_SHIM_STATUS_FD, b, (size_t)n, 0);
		(void)w;
	}
}

__attribute__((constructor)) static void orch_exec_shim(void) {
	const char *marker = getenv(ORCH_SHIM_ENV);
	if (marker == NULL || strcmp(marker, "1") != 0)
		return;
	unsetenv(ORCH_SHIM_ENV);
	// Non-dumpable: processes in the container (same uid) cannot open
	// /proc/1/exe or /proc/1/fd/*, which point at host files.
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	close(ORCH_SHIM_EXE_FD);
	fcntl(ORCH_SHIM_STATUS_FD, F_SETFD, FD_CLOEXEC);
	fcntl(ORCH_SHIM_ERR_FD, F_SETFD, FD_CLOEXEC);

	char **argv = orch_shim_argv();
	if (argv == NULL || argv[0] == NULL || argv[1] == NULL) {
		dprintf(2, "orch shim: no command\n");
		_exit(127);
	}
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);

	pid_t child = fork();
	if (child < 0) {
		int e = errno;
		ssize_t w = write(ORCH_SHIM_ERR_FD, &e, sizeof(e));
		(void)w;
		_exit(126);
	}
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[1], argv + 1);
		int e = errno;
		ssize_t w = write(ORCH_SHIM_ERR_FD, &e, sizeof(e));
		(void)w;
		_exit(127);
	}
	close(ORCH_SHIM_ERR_FD);

	for (;;) {
		siginfo_t si;
		int s = sigwaitinfo(&all, &si);
		if (s < 0)
			continue;
		if (s != SIGCHLD) {
			kill(child, s);
			continue;
		}
		// As PID 1 the shim also reaps orphans re-parented to it.
		for (;;) {
			int st;
			pid_t p = waitpid(-1, &st, WNOHANG);
			if (p <= 0)
				break;
			if (p != child)
				continue;
			if (WIFEXITED(st)) {
				orch_shim_record(WEXITSTATUS(st), 0);
				_exit(WEXITSTATUS(st));
			}
			if (WIFSIGNALED(st)) {
				orch_shim_record(128 + WTERMSIG(st), WTERMSIG(st));
				_exit(128 + WTERMSIG(st));
			}
		}
	}
}
*/
import "C"

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor performs the namespace setup of the re-exec'd
	// "init" child before the Go runtime starts.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// IsInitProcess reports whether this process was re-exec'd by libcontainer as
// a container's bootstrap process ("<binary> init").
func IsInitProcess() bool {
	return len(os.Args) > 1 && os.Args[1] == "init"
}

// Init runs libcontainer's container bootstrap and never returns. main must
// call it first thing when IsInitProcess is true, before any other setup.
func Init() {
	libcontainer.Init()
}

// Supported reports whether this build can isolate tasks.
const Supported = true
