/**
 * CPU time of processes, read from /proc: what the benchmarks report beside
 * their rates, so that a faster row that burns more CPU says so.
 *
 * @module
 */

const CLK_TCK = 100;

/** utime + stime of `pid` in seconds, and its parent; undefined when it is gone. */
function readStat(pid: number): { cpu: number; ppid: number } | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // the fields after "(comm)": state is 0, ppid 1, utime 11, stime 12
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK, ppid: Number(f[1]) };
  } catch {
    return undefined;
  }
}

/** CPU seconds `pid` has used (all its threads); 0 when it is gone. */
export function processCpu(pid: number): number {
  return readStat(pid)?.cpu ?? 0;
}

/**
 * CPU seconds of `pid` and its descendants (virtiofsd serves from a
 * sandboxed child); undefined when `pid` is gone.
 */
export function processTreeCpu(pid: number): number | undefined {
  const self = readStat(pid);
  if (self === undefined) return undefined;
  const children = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    const p = Number(e.name);
    if (!Number.isInteger(p)) continue;
    const s = readStat(p);
    if (s === undefined) continue;
    let list = children.get(s.ppid);
    if (list === undefined) children.set(s.ppid, list = []);
    list.push(p);
  }
  let total = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    total += readStat(p)?.cpu ?? 0;
    todo.push(...(children.get(p) ?? []));
  }
  return total;
}
