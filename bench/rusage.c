/* Runs one command and prints what it cost: "CPU_MS RSS_KIB EXIT" (used by bench/cli-cost.sh).
 *
 * CPU_MS is user + system time of the process and its children (wait4, microseconds), RSS_KIB
 * its peak resident set (ru_maxrss). A small C program and not a script: Linux counts the
 * resident set a process had before exec in its ru_maxrss, so the measuring process must be
 * small (a Python parent added its own 13 MiB). The command's output is discarded.
 *
 *   cc -O2 -o rusage bench/rusage.c && ./rusage CMD [ARG ...]
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: rusage CMD [ARG ...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 2;
    }
    double ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
    printf("%.2f %ld %d\n", ms, ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}
