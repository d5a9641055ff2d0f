/**
 * Order statistics the benchmark scripts share.
 *
 * @module
 */

/** The value at quantile `q` (0..1) of ascending `sorted`: the nearest rank at or below it. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
}
