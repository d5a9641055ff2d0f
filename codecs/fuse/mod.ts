/**
 * ringside `codecs/fuse`: see ../shared/DESIGN.md for what this layer owns.
 *
 * @module
 */
export {};
