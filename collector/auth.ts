// Agent authentication: Bearer tokens checked against the sha256 hex digests in the config, timing-safe.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TokenEntry } from '../cli/config.js';

export type AuthResult =
  | { ok: true; agentId: string }          // '*' when the token is valid for any agent id
  | { ok: false; reason: 'missing' | 'malformed' | 'unknown' };

export interface Auth {
  /** Checks the Authorization header value of an upgrade request. */
  check(authorization: string | undefined): AuthResult;
  /** May an authenticated token speak for `agentId` (from Hello and every event)? */
  allows(granted: string, agentId: string): boolean;
}

export function createAuth(tokens: readonly TokenEntry[]): Auth {
  const entries = tokens.map((t) => ({ agentId: t.agentId, digest: Buffer.from(t.sha256, 'hex') }));
  return {
    check(authorization) {
      if (authorization === undefined || authorization === '') return { ok: false, reason: 'missing' };
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!m) return { ok: false, reason: 'malformed' };
      const digest = createHash('sha256').update(m[1] as string).digest();
      // Compare against every entry without an early exit, so timing does not tell which matched.
      let granted: string | undefined;
      for (const e of entries) {
        if (e.digest.length === digest.length && timingSafeEqual(e.digest, digest) && granted === undefined) granted = e.agentId;
      }
      return granted === undefined ? { ok: false, reason: 'unknown' } : { ok: true, agentId: granted };
    },
    allows(granted, agentId) {
      return granted === '*' || granted === agentId;
    },
  };
}

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
