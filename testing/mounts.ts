/**
 * Test helper: whether a directory is a mount point now, read from
 * /proc/self/mounts.
 *
 * @module
 */

/** Whether `dir` (resolved) is mounted now, and of file system type `fsType` when given. */
export function isMounted(dir: string, fsType?: string): boolean {
  const real = Deno.realPathSync(dir);
  return Deno.readTextFileSync("/proc/self/mounts").split("\n").some((line) => {
    const fields = line.split(" ");
    return fields[1] === real && (fsType === undefined || fields[2] === fsType);
  });
}
