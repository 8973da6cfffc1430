/* Blocks forever in a native read() on a named FIFO nobody writes (pipes
 * are emulated; FIFOs opened by path are not): the watchdog's test
 * subject.  Not a self-checking program. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
    char dir[] = "/tmp/native_block.XXXXXX", path[64];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/fifo", dir);
    if (mkfifo(path, 0600) < 0) {
        perror("mkfifo");
        return 1;
    }
    int fd = open(path, O_RDWR); /* O_RDWR: the open itself does not wait */
    unlink(path);
    rmdir(dir);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    char c;
    ssize_t n = read(fd, &c, 1);
    printf("read returned %zd\n", n);
    return 1;
}
