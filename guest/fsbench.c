/* fsbench: ringside's in-guest file-system micro-benchmark.
 *
 *   fsbench -d DIR [-n FILES] [-s MIB] [-b KIB] [-r READS] [-S SEED] [-l LABEL] [-k]
 *
 * Everything happens in a fresh directory DIR/.fsbench-<pid>, removed at the end.
 * Phases, each timed on CLOCK_MONOTONIC:
 *   create    open(O_CREAT|O_EXCL) + close of FILES empty files
 *   stat      stat() of each (caches warm: what an application sees)
 *   readdir   READDIR_PASSES (5) opendir/readdir passes (one pass of a few
 *             ms was mostly noise); every pass's entry count is checked
 *   unlink    unlink() of each
 *   write     MIB MiB in KIB KiB blocks, then fsync + close (fsync counted)
 *   read      after dropping the page cache, read it all back; every block
 *             carries its index in its first 8 bytes, which is checked
 *   randread  after dropping the cache again, READS pread()s of 4 KiB at
 *             4 KiB-aligned offsets from a seeded splitmix64 sequence
 * -n 0 skips the metadata phases, -s 0 the data phases, -k keeps the page
 * cache (drop_caches needs root; "caches_dropped" reports what happened).
 * Output: one JSON object on one line on stdout. Status 0, or 1 with a message
 * on stderr.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct config {
    const char *dir;
    const char *label;
    long files;
    long mib;
    long block_kib;
    long reads;
    uint64_t seed;
    int drop;
};

struct result {
    const char *name;
    const char *unit; /* "per_s" for operations, "mib_per_s" for volume */
    double amount;    /* operations or MiB */
    double seconds;
    int ran;
};

/* Listings timed together in the readdir phase. */
#define READDIR_PASSES 5

enum { R_CREATE, R_STAT, R_READDIR, R_UNLINK, R_WRITE, R_READ, R_RANDREAD, R_COUNT };

static struct result results[R_COUNT] = {
    [R_CREATE] = { "create", "per_s", 0, 0, 0 },
    [R_STAT] = { "stat", "per_s", 0, 0, 0 },
    [R_READDIR] = { "readdir_entries", "per_s", 0, 0, 0 },
    [R_UNLINK] = { "unlink", "per_s", 0, 0, 0 },
    [R_WRITE] = { "write", "mib_per_s", 0, 0, 0 },
    [R_READ] = { "read", "mib_per_s", 0, 0, 0 },
    [R_RANDREAD] = { "randread_4k", "per_s", 0, 0, 0 },
};

static char work[4096];
static int caches_dropped = 1;

static void fail(const char *what, const char *path)
{
    int err = errno;
    fprintf(stderr, "fsbench: %s %s: %s\n", what, path ? path : "", strerror(err));
    exit(1);
}

static double clock_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void record(int which, double amount, double started)
{
    results[which].amount = amount;
    results[which].seconds = clock_s() - started;
    results[which].ran = 1;
}

static void drop_page_cache(const struct config *c)
{
    if (!c->drop) {
        caches_dropped = 0;
        return;
    }
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "3", 1) != 1)
        caches_dropped = 0;
    if (fd >= 0)
        close(fd);
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void name_of(char *out, size_t size, long i)
{
    snprintf(out, size, "%s/n%08ld", work, i);
}

static void metadata_phases(const struct config *c)
{
    char p[4200];
    double t = clock_s();
    for (long i = 0; i < c->files; i++) {
        name_of(p, sizeof p, i);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            fail("create", p);
        if (close(fd) != 0)
            fail("close", p);
    }
    record(R_CREATE, (double)c->files, t);

    t = clock_s();
    for (long i = 0; i < c->files; i++) {
        struct stat st;
        name_of(p, sizeof p, i);
        if (stat(p, &st) != 0)
            fail("stat", p);
        if (!S_ISREG(st.st_mode) || st.st_size != 0) {
            errno = EINVAL;
            fail("stat returned an unexpected type or size for", p);
        }
    }
    record(R_STAT, (double)c->files, t);

    t = clock_s();
    long seen_all = 0;
    for (int pass = 0; pass < READDIR_PASSES; pass++) {
        DIR *d = opendir(work);
        if (d == NULL)
            fail("opendir", work);
        long seen = 0;
        errno = 0;
        for (struct dirent *e; (e = readdir(d)) != NULL; errno = 0) {
            if (e->d_name[0] == 'n')
                seen++;
        }
        if (errno != 0)
            fail("readdir", work);
        closedir(d);
        if (seen != c->files) {
            fprintf(stderr, "fsbench: readdir saw %ld of %ld files\n", seen, c->files);
            exit(1);
        }
        seen_all += seen;
    }
    record(R_READDIR, (double)seen_all, t);

    t = clock_s();
    for (long i = 0; i < c->files; i++) {
        name_of(p, sizeof p, i);
        if (unlink(p) != 0)
            fail("unlink", p);
    }
    record(R_UNLINK, (double)c->files, t);
}

static void data_phases(const struct config *c)
{
    char p[4200];
    size_t block = (size_t)c->block_kib * 1024;
    uint64_t total = (uint64_t)c->mib * 1024 * 1024;
    unsigned char *buf = aligned_alloc(4096, (block + 4095) / 4096 * 4096);
    if (buf == NULL)
        fail("allocate", "buffer");
    snprintf(p, sizeof p, "%s/data", work);

    double t = clock_s();
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fail("create", p);
    /* fill once: under TCG a per-block fill would measure emulated memset, not the file system */
    for (size_t i = 0; i < block; i++)
        buf[i] = (unsigned char)(i * 13 + 5);
    uint64_t index = 0;
    for (uint64_t done = 0; done < total; index++) {
        size_t len = total - done < block ? (size_t)(total - done) : block;
        if (len >= sizeof index)
            memcpy(buf, &index, sizeof index);
        for (size_t off = 0; off < len;) {
            ssize_t n = write(fd, buf + off, len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                fail("write", p);
            off += (size_t)n;
        }
        done += len;
    }
    if (fsync(fd) != 0)
        fail("fsync", p);
    if (close(fd) != 0)
        fail("close", p);
    record(R_WRITE, (double)c->mib, t);

    drop_page_cache(c);
    t = clock_s();
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail("open", p);
    uint64_t got = 0;
    for (index = 0;; index++) {
        size_t have = 0;
        while (have < block) {
            ssize_t n = read(fd, buf + have, block - have);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                fail("read", p);
            if (n == 0)
                break;
            have += (size_t)n;
        }
        if (have == 0)
            break;
        uint64_t tag;
        if (have >= sizeof tag) {
            memcpy(&tag, buf, sizeof tag);
            if (tag != index) {
                fprintf(stderr, "fsbench: block %llu read back as block %llu\n",
                        (unsigned long long)index, (unsigned long long)tag);
                exit(1);
            }
        }
        got += have;
        if (have < block)
            break;
    }
    close(fd);
    record(R_READ, (double)c->mib, t);
    if (got != total) {
        fprintf(stderr, "fsbench: read %llu bytes back, wrote %llu\n", (unsigned long long)got,
                (unsigned long long)total);
        exit(1);
    }

    uint64_t pages = total / 4096;
    if (c->reads > 0 && pages > 0) {
        uint64_t state = c->seed;
        drop_page_cache(c);
        t = clock_s();
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            fail("open", p);
        for (long i = 0; i < c->reads; i++) {
            off_t off = (off_t)(splitmix64(&state) % pages) * 4096;
            ssize_t n = pread(fd, buf, 4096, off);
            if (n != 4096) {
                if (n >= 0)
                    errno = EIO;
                fail("pread", p);
            }
        }
        close(fd);
        record(R_RANDREAD, (double)c->reads, t);
    }
    if (unlink(p) != 0)
        fail("unlink", p);
    free(buf);
}

static void print_string(const char *s)
{
    putchar('"');
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (*q == '"' || *q == '\\')
            printf("\\%c", *q);
        else if (*q < 0x20)
            printf("\\u%04x", *q);
        else
            putchar(*q);
    }
    putchar('"');
}

static long number(const char *flag, const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0) {
        fprintf(stderr, "fsbench: %s wants a non-negative integer, got %s\n", flag, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct config c = { NULL, "", 1000, 64, 1024, 10000, 1, 1 };
    int opt;
    while ((opt = getopt(argc, argv, "d:n:s:b:r:S:l:k")) != -1) {
        switch (opt) {
        case 'd': c.dir = optarg; break;
        case 'n': c.files = number("-n", optarg); break;
        case 's': c.mib = number("-s", optarg); break;
        case 'b': c.block_kib = number("-b", optarg); break;
        case 'r': c.reads = number("-r", optarg); break;
        case 'S': c.seed = (uint64_t)number("-S", optarg); break;
        case 'l': c.label = optarg; break;
        case 'k': c.drop = 0; break;
        default: c.dir = NULL; optind = argc + 1; break;
        }
    }
    if (c.dir == NULL || optind != argc || c.block_kib == 0) {
        fprintf(stderr, "usage: fsbench -d DIR [-n FILES=1000] [-s MIB=64] [-b KIB=1024] "
                        "[-r READS=10000] [-S SEED=1] [-l LABEL] [-k]\n");
        return 2;
    }
    snprintf(work, sizeof work, "%s/.fsbench-%ld", c.dir, (long)getpid());
    if (mkdir(work, 0755) != 0)
        fail("mkdir", work);
    if (c.files > 0)
        metadata_phases(&c);
    if (c.mib > 0)
        data_phases(&c);
    if (rmdir(work) != 0)
        fail("rmdir", work);

    printf("{\"label\":");
    print_string(c.label);
    printf(",\"dir\":");
    print_string(c.dir);
    printf(",\"files\":%ld,\"mib\":%ld,\"block_kib\":%ld,\"reads\":%ld", c.files, c.mib,
           c.block_kib, c.reads);
    for (int i = 0; i < R_COUNT; i++) {
        const struct result *r = &results[i];
        if (!r->ran)
            continue;
        double rate = r->seconds > 0 ? r->amount / r->seconds : 0;
        printf(",\"%s_%s\":%.1f", r->name, r->unit, rate);
    }
    printf(",\"caches_dropped\":%s}\n", caches_dropped ? "true" : "false");
    return 0;
}
