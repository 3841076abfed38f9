//go:build linux && cgo

package shim

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

// The supervising shim runs as the container's init process (mode "1", exec
// driver) or as the parent of a raw_exec task (mode "2"). It lives in a C
// constructor so the orch binary re-exec'd as a shim never starts the Go
// runtime: its resident memory is a few hundred KiB of libc pages instead of a
// Go heap, scheduler threads and GC. The fd numbers and the environment marker
// are the contract with shim.go.
#define ORCH_SHIM_ENV "__ORCH_EXEC_SHIM"
#define ORCH_SHIM_STATUS_FD 3
#define ORCH_SHIM_EXE_FD 4
#define ORCH_SHIM_ERR_FD 5
// The task's lock (drivers/tasklock), when the driver passes one: an
// inherited flock that marks this shim as the task's one live copy for as
// long as it lives. It must not reach the task.
#define ORCH_SHIM_LOCK_FD 6

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
	if (marker == NULL || (strcmp(marker, "1") != 0 && strcmp(marker, "2") != 0))
		return;
	// Raw mode: argv is <exe> <path> <argv0> <args...>, the task shares the
	// shim's process group and signals go to that whole group.
	int raw = marker[0] == '2';
	unsetenv(ORCH_SHIM_ENV);
	// Non-dumpable: processes in the container (same uid) cannot open
	// /proc/1/exe or /proc/1/fd/*, which point at host files.
	if (!raw)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	// Raw mode: fd 4, when the driver passes one, is the task's directory.
	// The shim already runs as the task's user, who may not be allowed to
	// traverse the directories above it (a 0700 data dir): it enters the
	// directory by descriptor, which needs search permission on it alone.
	if (raw && fchdir(ORCH_SHIM_EXE_FD) != 0 && errno != EBADF) {
		int e = errno;
		ssize_t w = write(ORCH_SHIM_ERR_FD, &e, sizeof(e));
		(void)w;
		_exit(126);
	}
	close(ORCH_SHIM_EXE_FD);
	fcntl(ORCH_SHIM_STATUS_FD, F_SETFD, FD_CLOEXEC);
	fcntl(ORCH_SHIM_ERR_FD, F_SETFD, FD_CLOEXEC);
	if (fcntl(ORCH_SHIM_LOCK_FD, F_SETFD, FD_CLOEXEC) == 0 && raw) {
		// Record this shim in the lock file before the task exists, so a
		// later agent finds it without searching (in a PID namespace the
		// shim's own pid would mean nothing to the host: not recorded).
		char b[32];
		int n = snprintf(b, sizeof(b), "pid %d\n", (int)getpid());
		if (n > 0 && lseek(ORCH_SHIM_LOCK_FD, 0, SEEK_END) >= 0) {
			ssize_t w = write(ORCH_SHIM_LOCK_FD, b, (size_t)n);
			(void)w;
		}
	}

	char **argv = orch_shim_argv();
	if (argv == NULL || argv[0] == NULL || argv[1] == NULL || (raw && argv[2] == NULL)) {
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
		// The task starts as a fresh program would: every signal at its
		// default action and none blocked. Dispositions an agent started
		// under nohup (SIGHUP ignored) or a service manager inherited would
		// otherwise pass to the task, and a shell cannot trap a signal
		// that was ignored when it started (change_mode = "signal" with
		// SIGHUP would do nothing).
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		for (int s = 1; s < NSIG; s++) {
			if (s != SIGKILL && s != SIGSTOP)
				sigaction(s, &dfl, NULL);
		}
		sigemptyset(&old);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (raw)
			execv(argv[1], argv + 2);
		else
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
			if (!raw || si.si_code == SI_QUEUE) {
				// Exec mode, or a raw_exec Signal meant for the task's
				// main process only.
				kill(child, s);
				continue;
			}
			// Our own echo of a group-wide forward: already delivered.
			if (si.si_pid == getpid())
				continue;
			kill(-getpgrp(), s);
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

// Available reports whether this build carries the shim.
const Available = true
