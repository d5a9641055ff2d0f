/* Tiny static xattr tool for the guest test (busybox has no setfattr/getfattr):
 *   rs-xattr set PATH NAME VALUE
 *   rs-xattr get PATH NAME        prints the value
 *   rs-xattr list PATH            prints the names, one a line
 *   rs-xattr remove PATH NAME
 */
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

int main(int argc, char **argv) {
	char buf[4096];
	ssize_t n;
	if (argc == 5 && strcmp(argv[1], "set") == 0) {
		if (setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0) != 0) {
			perror("setxattr");
			return 1;
		}
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "get") == 0) {
		n = getxattr(argv[2], argv[3], buf, sizeof buf);
		if (n < 0) {
			perror("getxattr");
			return 1;
		}
		fwrite(buf, 1, (size_t)n, stdout);
		putchar('\n');
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "list") == 0) {
		n = listxattr(argv[2], buf, sizeof buf);
		if (n < 0) {
			perror("listxattr");
			return 1;
		}
		for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) puts(buf + i);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "remove") == 0) {
		if (removexattr(argv[2], argv[3]) != 0) {
			perror("removexattr");
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "usage: rs-xattr set|get|list|remove PATH [NAME [VALUE]]\n");
	return 2;
}
