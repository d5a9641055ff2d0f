/**
 * ringside `transports/vhost_user`: the vhost-user-fs back-end that QEMU's
 * `vhost-user-fs-pci` talks to ({@linkcode startVhostUserBackend}), and a
 * front-end that drives any vhost-user-fs back-end from TypeScript
 * ({@linkcode VhostUserFrontend}: tests, replay, back-end benchmarks).
 *
 * @module
 */
export {
  BACKEND_PROTOCOL_FEATURES,
  type ServerFactorySpec,
  startVhostUserBackend,
  VHOST_USER_MAX_MEM_SLOTS,
  type VhostUserBackend,
  type VhostUserBackendOptions,
} from "./backend.ts";
export {
  createSharedGuestMemory,
  FRONTEND_USER_BASE,
  type FrontendDevice,
  FrontendQueue,
  type RequestOptions,
  type SetUpOptions,
  type SharedGuestMemory,
  VhostUserFrontend,
} from "./frontend.ts";
