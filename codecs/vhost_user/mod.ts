/**
 * ringside `codecs/vhost_user`: see ../shared/DESIGN.md for what this layer owns.
 *
 * @module
 */
export {};
