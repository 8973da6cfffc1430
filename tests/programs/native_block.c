/* Blocks forever in a native read() on a pipe nobody writes: the
 * watchdog's test subject.  Not a self-checking program. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    int fds[2];
    char c;
    if (pipe(fds) < 0) {
        perror("pipe");
        return 1;
    }
    ssize_t n = read(fds[0], &c, 1);
    printf("read returned %zd\n", n);
    return 1;
}
