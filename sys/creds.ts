/**
 * Running a file system operation as another user on the calling thread:
 * fsuid, fsgid and supplementary groups are per-thread in the kernel, so
 * switching them around one synchronous call does not disturb other threads.
 * Only a thread with CAP_SETUID/CAP_SETGID (root) can switch.
 *
 * @example
 * ```ts
 * import { ThreadCredentials } from "./creds.ts";
 * const creds = new ThreadCredentials();
 * const result = creds.run({ uid: 65534, gid: 65534, groups: [] }, () => 42);
 * console.log(result);
 * ```
 *
 * @module
 */
import { getgroups, setfsgid, setfsuid, setgroupsThread } from "./fs.ts";

/** Who an operation runs as. */
export interface Caller {
  /** File system user id. */
  uid: number;
  /** File system group id. */
  gid: number;
  /** Supplementary groups; `undefined` leaves them empty. */
  groups?: ArrayLike<number>;
}

/**
 * Switches the calling thread's fsuid/fsgid/groups for the length of one
 * synchronous call and restores the thread's own afterwards (also when the
 * call throws).
 */
export class ThreadCredentials {
  readonly #uid: number;
  readonly #gid: number;
  readonly #groups: number[];
  /** True when this thread can switch credentials (it runs as root). */
  readonly canSwitch: boolean;

  /** Remembers the calling thread's current credentials as the ones to restore. */
  constructor() {
    this.#uid = Deno.uid() ?? 0;
    this.#gid = Deno.gid() ?? 0;
    this.#groups = getgroups();
    this.canSwitch = this.#uid === 0;
  }

  /**
   * Calls `fn` with fsuid = `caller.uid`, fsgid = `caller.gid` and the
   * caller's supplementary groups; when the thread cannot switch (not root)
   * `fn` runs with the thread's own credentials.
   */
  run<T>(caller: Caller, fn: () => T): T {
    if (!this.canSwitch) return fn();
    const same = caller.uid === this.#uid && caller.gid === this.#gid &&
      caller.groups === undefined;
    if (same) return fn();
    setgroupsThread(caller.groups ?? []);
    setfsgid(caller.gid);
    setfsuid(caller.uid);
    try {
      return fn();
    } finally {
      setfsuid(this.#uid);
      setfsgid(this.#gid);
      setgroupsThread(this.#groups);
    }
  }
}
