//go:build linux && cgo

// The per-task log monitor. It runs in a C constructor of the orch binary
// re-executed with ORCH_LOGMON_ENV set, so the Go runtime never starts in it
// (a few hundred KiB per task). It reads the task's two output FIFOs and
// writes them into size-rotated files <base>.N in the log dir, as
// client/logs.Rotator does, and it outlives the agent: a task's output keeps
// flowing while the agent is down or restarting.
//
// Contract with logmon.go (fds and argv):
//   fd 3  the log dir (any descriptor of it, O_PATH is enough)
//   fd 4  the stdout FIFO, fd 5 the stderr FIFO (open read-write)
//   fd 6  a pipe: "ok\n" once running, "busy\n" when another monitor holds
//         the stdout FIFO's lock (it exits then), or "error <msg>\n"
//   argv  <exe> logmon <stdout base> <stderr base> <max files> <max bytes>
//         <keep|discard> [<label>: the task it serves, for ps]
// SIGTERM: drain what the FIFOs hold (bounded), close the files, exit 0.
// It also exits (after the same drain) once its FIFO or the log dir has been
// removed: the allocation's directory is gone and nothing new can come.
//
// Files: the log dir is not writable by tasks; still, nothing there is
// trusted. A name is created with O_CREAT|O_EXCL|O_NOFOLLOW; an existing one
// is taken with O_PATH, checked to be a single-link regular file, and only
// then re-opened through /proc/self/fd; anything else at a log file's name is
// unlinked (the name only) and replaced. A file that cannot be opened or
// written (full disk, EACCES) makes the monitor drop output, count it, retry
// a fresh file after a second, and note the gap in the log once it works.

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define ORCH_LOGMON_ENV "__ORCH_LOGMON"
#define LM_DIR_FD 3
#define LM_OUT_FD 4
#define LM_ERR_FD 5
#define LM_READY_FD 6
#define LM_BUF (64 * 1024)
#define LM_DRAIN_MAX (64L * 1024 * 1024)
#define LM_FOREIGN (-100000)
#define LM_CHECK_MS 2000

struct lm_rot {
	const char *base;
	long max_files;
	long long max_bytes;
	int discard;
	int fd;          // -1 while broken
	long idx;        // current (or last tried) index
	long oldest;     // lowest index that may still exist
	long long size;  // bytes in the current file
	long long dropped;
	int fail_errno;  // 0 when healthy
	double retry_at;
};

static double lm_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void lm_name(char *buf, size_t n, const char *base, long i) {
	snprintf(buf, n, "%s.%ld", base, i);
}

// lm_scan finds the lowest and highest index of the regular single-link
// files <base>.N in the dir.
static void lm_scan(struct lm_rot *r) {
	long lo = -1, hi = 0;
	int dfd = openat(LM_DIR_FD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		goto out;
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		goto out;
	}
	size_t bl = strlen(r->base);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, r->base, bl) != 0 || e->d_name[bl] != '.')
			continue;
		const char *num = e->d_name + bl + 1;
		if (*num == '\0')
			continue;
		char *end;
		errno = 0;
		long i = strtol(num, &end, 10);
		if (*end != '\0' || errno != 0 || i < 0 || num[0] == '+' || num[0] == '-')
			continue;
		struct stat st;
		if (fstatat(LM_DIR_FD, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)
			continue;
		if (i > hi)
			hi = i;
		if (lo < 0 || i < lo)
			lo = i;
	}
	closedir(d);
out:
	r->oldest = lo < 0 ? 0 : lo;
	r->idx = hi;
}

// lm_take opens an existing name that must be a single-link regular file,
// without side effects on anything else: 0 and *fd on success, -errno, or
// 1 when something else is there.
static int lm_take(const char *name, int *fd) {
	int p = openat(LM_DIR_FD, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (p < 0)
		return -errno;
	struct stat st;
	if (fstat(p, &st) != 0) {
		int e = errno;
		close(p);
		return -e;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(p);
		return 1;
	}
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", p);
	int f = open(proc, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	int e = errno;
	close(p);
	if (f < 0)
		return -e;
	struct stat st2;
	if (fstat(f, &st2) != 0 || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev) {
		close(f);
		return -EAGAIN;
	}
	*fd = f;
	return 0;
}

// lm_open makes index i the current file: 0, -errno, or LM_FOREIGN when the
// name is taken by something that cannot be replaced.
static int lm_open(struct lm_rot *r, long i) {
	char name[512];
	lm_name(name, sizeof name, r->base, i);
	int fd = -1;
	for (int attempt = 0;; attempt++) {
		fd = openat(LM_DIR_FD, name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
		if (fd >= 0)
			break;
		if (errno != EEXIST)
			return -errno;
		int rc = lm_take(name, &fd);
		if (rc == 0)
			break;
		if (rc == -ENOENT)
			continue;  // removed meanwhile: create it
		if (rc < 0 && rc != -ELOOP)
			return rc;
		// A link, FIFO, device, directory or hard link: not ours.
		if (attempt >= 3)
			return LM_FOREIGN;
		if (unlinkat(LM_DIR_FD, name, 0) != 0 && errno != ENOENT)
			return LM_FOREIGN;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	r->fd = fd;
	r->idx = i;
	r->size = st.st_size;
	return 0;
}

static void lm_purge(struct lm_rot *r) {
	char name[512];
	for (; r->oldest <= r->idx - r->max_files; r->oldest++) {
		lm_name(name, sizeof name, r->base, r->oldest);
		if (unlinkat(LM_DIR_FD, name, 0) != 0 && errno != ENOENT)
			return;
	}
}

static void lm_fail(struct lm_rot *r, int err) {
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	r->fail_errno = err ? err : EIO;
	r->retry_at = lm_now() + 1.0;
}

static void lm_recovered(struct lm_rot *r) {
	if (r->fail_errno == 0)
		return;
	if (r->dropped > 0) {
		char note[256];
		int n = snprintf(note, sizeof note, "\n[orch: %lld bytes of task output dropped: %s]\n",
		                 r->dropped, strerror(r->fail_errno));
		if (n > 0) {
			ssize_t w = write(r->fd, note, (size_t)n);
			if (w > 0)
				r->size += w;
		}
	}
	r->dropped = 0;
	r->fail_errno = 0;
}

// lm_next moves to a fresh file; 1 when there is one to write to.
static int lm_next(struct lm_rot *r) {
	if (r->fd < 0 && lm_now() < r->retry_at)
		return 0;
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	int rc = 0;
	for (int k = 0; k < 4; k++) {
		rc = lm_open(r, r->idx + 1);
		if (rc != LM_FOREIGN)
			break;
		r->idx++;  // skip a name that cannot be used
	}
	if (rc != 0) {
		lm_fail(r, rc == LM_FOREIGN ? EEXIST : -rc);
		return 0;
	}
	lm_purge(r);
	lm_recovered(r);
	return 1;
}

static void lm_write(struct lm_rot *r, const char *p, size_t n) {
	if (r->discard)
		return;
	while (n > 0) {
		if (r->fd < 0 || r->size >= r->max_bytes) {
			if (!lm_next(r)) {
				r->dropped += (long long)n;
				return;
			}
		}
		long long room = r->max_bytes - r->size;
		if (room <= 0)
			continue;
		size_t chunk = n;
		if ((long long)chunk > room)
			chunk = (size_t)room;
		ssize_t w = write(r->fd, p, chunk);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			lm_fail(r, errno);
			continue;
		}
		r->size += w;
		p += w;
		n -= (size_t)w;
	}
}

static void lm_init(struct lm_rot *r) {
	r->fd = -1;
	if (r->discard)
		return;
	lm_scan(r);
	int rc = lm_open(r, r->idx);
	if (rc != 0)
		lm_fail(r, rc == LM_FOREIGN ? EEXIST : -rc);
	lm_purge(r);
}

// lm_pump reads what fd holds into r; -1 at EOF or error.
static int lm_pump(int fd, struct lm_rot *r, long *budget) {
	static char buf[LM_BUF];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n > 0) {
			lm_write(r, buf, (size_t)n);
			if (budget != NULL && (*budget -= n) <= 0)
				return 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
}

// lm_orphaned reports whether the task's FIFO or the log dir was removed
// (the allocation's directory is gone): nothing new can reach the monitor,
// which must not outlive its task forever.
static int lm_orphaned(void) {
	struct stat st;
	if (fstat(LM_OUT_FD, &st) == 0 && st.st_nlink == 0)
		return 1;
	if (fstat(LM_DIR_FD, &st) == 0 && st.st_nlink == 0)
		return 1;
	return 0;
}

static void lm_say(const char *s) {
	ssize_t w = write(LM_READY_FD, s, strlen(s));
	(void)w;
	close(LM_READY_FD);
}

static void lm_run(char **argv) {
	struct lm_rot rot[2];
	memset(rot, 0, sizeof rot);
	int keep = strcmp(argv[6], "keep") == 0;
	for (int i = 0; i < 2; i++) {
		rot[i].base = argv[2 + i];
		rot[i].max_files = atol(argv[4]);
		rot[i].max_bytes = atoll(argv[5]);
		rot[i].discard = !keep;
		if (rot[i].max_files <= 0)
			rot[i].max_files = 10;
		if (rot[i].max_bytes <= 0)
			rot[i].max_bytes = 10LL << 20;
	}
	// One monitor per task: the stdout FIFO's lock says who it is.
	if (flock(LM_OUT_FD, LOCK_EX | LOCK_NB) != 0) {
		lm_say(errno == EWOULDBLOCK ? "busy\n" : "error flock\n");
		_exit(0);
	}
	for (int fd = LM_OUT_FD; fd <= LM_ERR_FD; fd++) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
			lm_say("error fifo\n");
			_exit(1);
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	fcntl(LM_DIR_FD, F_SETFD, FD_CLOEXEC);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (sfd < 0) {
		lm_say("error signalfd\n");
		_exit(1);
	}
	lm_init(&rot[0]);
	lm_init(&rot[1]);
	lm_say("ok\n");

	for (;;) {
		struct pollfd pf[3] = {{LM_OUT_FD, POLLIN, 0}, {LM_ERR_FD, POLLIN, 0}, {sfd, POLLIN, 0}};
		int rc = poll(pf, 3, LM_CHECK_MS);
		if (rc < 0 && errno != EINTR)
			_exit(1);
		if ((pf[2].revents & POLLIN) || (rc == 0 && lm_orphaned())) {
			// Stop: take what the pipes still hold, then exit.
			long budget = LM_DRAIN_MAX;
			lm_pump(LM_OUT_FD, &rot[0], &budget);
			budget = LM_DRAIN_MAX;
			lm_pump(LM_ERR_FD, &rot[1], &budget);
			for (int i = 0; i < 2; i++)
				if (rot[i].fd >= 0)
					close(rot[i].fd);
			_exit(0);
		}
		for (int i = 0; i < 2; i++)
			if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
				lm_pump(pf[i].fd, &rot[i], NULL);
	}
}

__attribute__((constructor)) static void orch_logmon(void) {
	const char *marker = getenv(ORCH_LOGMON_ENV);
	if (marker == NULL || strcmp(marker, "1") != 0)
		return;
	unsetenv(ORCH_LOGMON_ENV);
	// argv comes from /proc/self/cmdline: the constructor runs before the
	// Go runtime would have handed it over.
	static char buf[8192];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		_exit(127);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		_exit(127);
	buf[n] = '\0';
	char *argv[9] = {0};
	int argc = 0;
	for (ssize_t i = 0; i < n && argc < 8; argc++) {
		argv[argc] = buf + i;
		i += (ssize_t)strlen(buf + i) + 1;
	}
	if (argc < 7) {
		lm_say("error usage\n");
		_exit(127);
	}
	lm_run(argv);
	_exit(0);
}
