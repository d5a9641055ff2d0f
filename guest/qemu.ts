/**
 * The QEMU command line for a throw-away guest: q35, guest RAM in a shared
 * memfd (`memory-backend-memfd,share=on`, which a vhost-user backend needs to
 * mmap guest memory), three serial ports on Unix sockets (console, command
 * stdout, command stderr), and the shared directory as a vhost-user-fs-pci or
 * virtio-9p-pci device.
 *
 * @module
 */

/** How the guest's `/mnt` is provided. */
export type GuestShareDevice =
  | { kind: "vhost-user"; socket: string; tag: string; queueSize?: number }
  | { kind: "9p"; dir: string; tag: string }
  | { kind: "none" };

/** Everything {@linkcode qemuArgs} needs. */
export interface QemuConfig {
  /** Kernel file (ELF with a PVH entry, or a bzImage). */
  kernel: string;
  /** Initramfs file. */
  initrd: string;
  /** Kernel command line. */
  append: string;
  /** `tcg` or `kvm`. */
  accel: "tcg" | "kvm";
  /** Guest memory, QEMU size syntax (`1G`, `512M`). */
  mem: string;
  /** Number of vCPUs. */
  smp: number;
  /** Unix sockets (listening) for the console, the command's stdout and its stderr. */
  serial: { console: string; stdout: string; stderr: string };
  /** The shared directory device. */
  share: GuestShareDevice;
  /** Firmware image (qboot when present boots faster than SeaBIOS). */
  bios?: string;
  /** Extra arguments appended as given. */
  extra?: string[];
}

/** Escapes a value for QEMU's `key=value,...` option syntax (commas are doubled). */
export function qemuValue(value: string): string {
  return value.replaceAll(",", ",,");
}

/** The kernel command line used for every guest (plus `extra`). */
export function kernelCommandLine(extra = ""): string {
  // cryptomgr.notests: the crypto self-tests cost ~0.2 s under TCG
  const base = "console=ttyS0 quiet panic=-1 printk.devkmsg=on cryptomgr.notests rdinit=/init";
  return extra.trim() === "" ? base : `${base} ${extra.trim()}`;
}

/** Builds the `qemu-system-x86_64` argument list for `config`. */
export function qemuArgs(config: QemuConfig): string[] {
  const cpu = config.accel === "kvm" ? "host" : "max";
  const args = [
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    "-machine",
    `q35,accel=${config.accel}`,
    "-cpu",
    cpu,
    "-smp",
    String(config.smp),
    "-m",
    config.mem,
    "-object",
    `memory-backend-memfd,id=mem,size=${config.mem},share=on`,
    "-numa",
    "node,memdev=mem",
    "-kernel",
    config.kernel,
    "-initrd",
    config.initrd,
    "-append",
    config.append,
  ];
  const serial: [string, string][] = [
    ["con", config.serial.console],
    ["out", config.serial.stdout],
    ["err", config.serial.stderr],
  ];
  for (const [id, path] of serial) {
    args.push("-chardev", `socket,id=${id},path=${qemuValue(path)}`, "-serial", `chardev:${id}`);
  }
  const share = config.share;
  if (share.kind === "vhost-user") {
    args.push(
      "-chardev",
      `socket,id=vfs,path=${qemuValue(share.socket)}`,
      "-device",
      `vhost-user-fs-pci,chardev=vfs,tag=${qemuValue(share.tag)},queue-size=${
        share.queueSize ?? 1024
      }`,
    );
  } else if (share.kind === "9p") {
    args.push(
      "-fsdev",
      `local,id=fs0,path=${qemuValue(share.dir)},security_model=none`,
      "-device",
      `virtio-9p-pci,fsdev=fs0,mount_tag=${qemuValue(share.tag)}`,
    );
  }
  if (config.bios !== undefined) args.push("-bios", config.bios);
  args.push(...(config.extra ?? []));
  return args;
}

/**
 * `kvm` when /dev/kvm is a usable hardware KVM, `tcg` when it is missing or is
 * PVM (`kvm_pvm`, which cannot run a stock Debian kernel).
 */
export function chooseAccel(): "tcg" | "kvm" {
  try {
    Deno.statSync("/sys/module/kvm_pvm");
    return "tcg";
  } catch {
    // not PVM
  }
  try {
    Deno.openSync("/dev/kvm", { read: true, write: true }).close();
    return "kvm";
  } catch {
    return "tcg";
  }
}

/** qboot's path when installed (it boots faster than SeaBIOS), else `undefined`. */
export function defaultBios(): string | undefined {
  try {
    Deno.statSync("/usr/share/qemu/qboot.rom");
    return "/usr/share/qemu/qboot.rom";
  } catch {
    return undefined;
  }
}
