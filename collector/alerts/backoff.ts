// Retry delays for alert sinks: exponential with full jitter, capped. Pure (randomness comes in).

export interface BackoffPolicy { minMillis: number; maxMillis: number }

/** Delay before retry number `attempt` (1-based): uniform in [min, min·2^(attempt-1)] capped at max. */
export function backoffMillis(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxMillis, policy.minMillis * 2 ** Math.max(0, attempt - 1));
  return Math.round(policy.minMillis + (ceiling - policy.minMillis) * random());
}
