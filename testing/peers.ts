/**
 * Test gating for tests that need a real peer (the host kernel's /dev/fuse,
 * QEMU, a guest kernel, tshark, the C virtiofsd, Chromium).
 *
 * Outside CI a missing peer is a loud skip: the test is registered as ignored
 * and a warning naming what is missing is printed. In CI (`CI` set) a missing
 * peer is a failure: the test runs and fails with the reason, so CI never goes
 * green by skipping.
 *
 * @module
 */

/** A real peer a test can need. */
export type Peer =
  | "fuse"
  | "qemu"
  | "guest-kernel"
  | "busybox"
  | "tshark"
  | "virtiofsd"
  | "chromium";

function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): boolean {
  const dirs = (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":");
  return dirs.some((d) => fileExists(`${d}/${name}`));
}

function guestKernel(): boolean {
  try {
    for (const e of Deno.readDirSync("/boot")) {
      if (e.name.startsWith("vmlinuz-")) return true;
    }
  } catch {
    // no /boot
  }
  return false;
}

/** Why `peer` cannot be used on this machine, or `undefined` when it can. */
export function peerMissing(peer: Peer): string | undefined {
  switch (peer) {
    case "fuse": {
      if (!fileExists("/dev/fuse")) return "/dev/fuse does not exist";
      if (Deno.uid() !== 0) return "mounting FUSE needs root";
      return undefined;
    }
    case "qemu":
      return onPath("qemu-system-x86_64")
        ? undefined
        : "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)";
    case "guest-kernel":
      return guestKernel() ? undefined : "no /boot/vmlinuz-* (apt-get install linux-image-amd64)";
    case "busybox":
      return fileExists("/bin/busybox")
        ? undefined
        : "no /bin/busybox (apt-get install busybox-static)";
    case "tshark":
      return onPath("tshark") ? undefined : "tshark is not installed (apt-get install tshark)";
    case "virtiofsd":
      return fileExists("/usr/lib/qemu/virtiofsd")
        ? undefined
        : "no /usr/lib/qemu/virtiofsd (apt-get install qemu-system-x86)";
    case "chromium":
      return onPath("chromium")
        ? undefined
        : "chromium is not installed (apt-get install chromium)";
  }
}

/** True when running under CI, where missing peers fail instead of skipping. */
export function inCI(): boolean {
  const v = Deno.env.get("CI");
  return v !== undefined && v !== "" && v !== "0" && v !== "false";
}

/** Options for {@linkcode peerTest}. */
export interface PeerTestOptions {
  /** Peers the test needs. */
  needs: Peer[];
  /** Passed through to `Deno.test`. */
  sanitizeOps?: boolean;
  /** Passed through to `Deno.test`. */
  sanitizeResources?: boolean;
}

/**
 * Registers a test that needs real peers: it runs when they are all there,
 * fails in CI when one is missing, and is a loud skip elsewhere.
 */
export function peerTest(
  name: string,
  options: PeerTestOptions,
  fn: (t: Deno.TestContext) => void | Promise<void>,
): void {
  const missing = options.needs.map(peerMissing).filter((m): m is string => m !== undefined);
  const sanitize = {
    sanitizeOps: options.sanitizeOps ?? true,
    sanitizeResources: options.sanitizeResources ?? true,
  };
  if (missing.length === 0) {
    Deno.test({ name, fn, ...sanitize });
  } else if (inCI()) {
    Deno.test({
      name,
      fn() {
        throw new Error(`this test needs a real peer that CI must provide: ${missing.join("; ")}`);
      },
    });
  } else {
    console.warn(`\n!!! SKIPPED (not in CI) "${name}": ${missing.join("; ")}\n`);
    Deno.test({ name, ignore: true, fn });
  }
}
