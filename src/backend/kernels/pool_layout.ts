/** A helper thread's slot in the control array (int32 fields) and its float64 arguments; see splitKernel in split.ts. */
export const SLOT = {asked: 0, done: 1, kernel: 2, count: 3, failed: 4, ints: 8, args: 24} as const;
