// Reads recorded events as JSON lines (for `runwarden rules test` and rule fixtures): one RwEvent per line,
// `#` lines are comments; agentId, bootId, seq and tsNs default so hand-written fixtures stay short.
import { RwError } from '../../proto/errors.js';
import type { RwEvent } from '../../proto/types.js';
import { EVENT_KINDS } from '../../proto/types.js';

export function parseEventsJsonl(text: string, file = 'events'): RwEvent[] {
  const out: RwEvent[] = [];
  let seq = 0;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch (e) {
      throw new RwError('CLI_ERR_USAGE', `${file}:${i + 1}: not JSON: ${(e as Error).message}`, { cause: e });
    }
    const kind = o.kind;
    if (typeof kind !== 'string' || !(EVENT_KINDS as readonly string[]).includes(kind)) {
      throw new RwError('CLI_ERR_USAGE', `${file}:${i + 1}: kind must be one of ${EVENT_KINDS.join(', ')}`);
    }
    if (typeof o[kind] !== 'object' || o[kind] === null) o[kind] = {};
    seq = typeof o.seq === 'number' ? o.seq : seq + 1;
    out.push({ agentId: 'agent-1', bootId: 'boot-1', tsNs: seq * 1_000_000, ...o, seq } as unknown as RwEvent);
  }
  return out;
}
