// Verifies an audit database offline: recomputes the events, findings and checkpoint chains, checks each
// checkpoint's ed25519 signature and that the heads it signed still exist with the same hash.
import { walkChain } from './chain.js';
import { readPublicKeyDer, verifyHashSignature } from './checkpoint.js';
import { openAuditReader } from './store.js';
import type { ChainedTable } from './schema.js';

export type VerifyResult =
  | {
      ok: true;
      rows: { events: number; findings: number };
      checkpoints: number;
      /** false when no public key was given: signatures were checked against the key stored in the rows. */
      keyPinned: boolean;
      /** Rows after the last checkpoint: intact as a chain, but not yet sealed by a signature. */
      unsealed: { events: number; findings: number };
    }
  | { ok: false; table: ChainedTable; rowId: number; reason: string };

export function verifyStore(dbPath: string, opts: { publicKeyPath?: string } = {}): VerifyResult {
  const pinned = opts.publicKeyPath === undefined ? undefined : readPublicKeyDer(opts.publicKeyPath);
  const reader = openAuditReader(dbPath);
  try {
    const events = walkChain('events', reader.rows('events'));
    if (!events.ok) return { ok: false, table: 'events', rowId: events.rowId, reason: events.reason };
    const findings = walkChain('findings', reader.rows('findings'));
    if (!findings.ok) return { ok: false, table: 'findings', rowId: findings.rowId, reason: findings.reason };
    const cps = walkChain('checkpoints', reader.checkpoints().map((c) => c.chain));
    if (!cps.ok) return { ok: false, table: 'checkpoints', rowId: cps.rowId, reason: cps.reason };

    let key = pinned;
    let lastEv = 0;
    let lastFi = 0;
    for (const c of reader.checkpoints()) {
      key ??= c.publicKey;
      if (!c.publicKey.equals(key)) {
        return { ok: false, table: 'checkpoints', rowId: c.id, reason: pinned ? 'signed by a key other than the one given' : 'signed by a different key than earlier checkpoints' };
      }
      if (!verifyHashSignature(key, c.chain.hash, c.signature)) return { ok: false, table: 'checkpoints', rowId: c.id, reason: 'signature does not verify' };
      if (c.eventsHeadId < lastEv || c.findingsHeadId < lastFi) return { ok: false, table: 'checkpoints', rowId: c.id, reason: 'chain head moved backwards' };
      for (const [t, headId, headHash, count, walked] of [
        ['events', c.eventsHeadId, c.eventsHeadHash, c.eventsCount, events.rows],
        ['findings', c.findingsHeadId, c.findingsHeadHash, c.findingsCount, findings.rows],
      ] as const) {
        if (count !== headId) return { ok: false, table: 'checkpoints', rowId: c.id, reason: `${t} count ${count} differs from head id ${headId}` };
        if (headId === 0) continue;
        const h = reader.hashOf(t, headId);
        if (!h) {
          return { ok: false, table: t, rowId: headId, reason: `row missing: checkpoint ${c.id} signed ${t} head ${headId}, the table ends at ${walked} (tail deleted)` };
        }
        if (!Buffer.isBuffer(headHash) || !h.equals(headHash)) return { ok: false, table: t, rowId: headId, reason: `hash differs from the one checkpoint ${c.id} signed (chain rewritten)` };
      }
      lastEv = c.eventsHeadId;
      lastFi = c.findingsHeadId;
    }
    return {
      ok: true,
      rows: { events: events.rows, findings: findings.rows },
      checkpoints: cps.rows,
      keyPinned: pinned !== undefined,
      unsealed: { events: events.rows - lastEv, findings: findings.rows - lastFi },
    };
  } finally {
    reader.close();
  }
}
