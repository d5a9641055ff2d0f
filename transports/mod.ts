/**
 * ringside `transports`: see ../shared/DESIGN.md for what this layer owns.
 *
 * @module
 */
export {};
