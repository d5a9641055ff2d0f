/* rs-drain: block until every byte queued on the given terminals has been
 * transmitted (tcdrain), so the guest can power off without cutting the
 * command's output short. Part of ringside's guest initramfs. */
#include <fcntl.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int status = 0;
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            perror(argv[i]);
            status = 1;
            continue;
        }
        if (tcdrain(fd) != 0) {
            perror(argv[i]);
            status = 1;
        }
        close(fd);
    }
    return status;
}
