// Keyed fingerprints of secret values: what the audit log keeps instead of the value.

import { createHmac } from 'node:crypto';

/** Hex characters kept: 128 bits, enough to tell secrets apart, too few to help brute-forcing the key. */
export const FINGERPRINT_HEX_CHARS = 32;

/**
 * HMAC-SHA256(installKey, value), first 32 hex characters. Keyed so that a leaked audit log does not
 * let anyone confirm a guessed secret without the install key.
 */
export function fingerprint(installKey: Uint8Array, value: string): string {
  return createHmac('sha256', installKey).update(value, 'utf8').digest('hex').slice(0, FINGERPRINT_HEX_CHARS);
}
