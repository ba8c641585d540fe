// Comparing two systems on a shared machine: measure them in alternation,
// not one after the other, so a change in load lands on both alike.

/** The order of round `r`: as given in even rounds, reversed in odd ones, so neither side always runs right after the other's teardown. */
export function roundOrder<T>(xs: readonly T[], r: number): T[] {
  return r % 2 ? [...xs].reverse() : [...xs];
}
