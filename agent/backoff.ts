// Reconnect delays: capped exponential backoff with full jitter. Pure: the random draw comes in.

export interface BackoffPolicy { minMillis: number; maxMillis: number; factor?: number }

/**
 * Delay before reconnect attempt `attempt` (0 = first retry after a failure).
 * "Full jitter" (uniform in [min, ceiling]) spreads a fleet of agents that lost the same collector,
 * so they do not reconnect in lockstep. `random` is a draw in [0, 1).
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: number): number {
  const min = Math.max(0, policy.minMillis);
  const max = Math.max(min, policy.maxMillis);
  const factor = policy.factor ?? 2;
  const n = Math.max(0, Math.floor(attempt));
  // Capping the exponent keeps factor ** n finite for very long outages.
  const ceiling = Math.min(max, min * factor ** Math.min(n, 64));
  const r = Math.min(Math.max(random, 0), 1);
  return Math.round(min + (Math.max(ceiling, min) - min) * r);
}
