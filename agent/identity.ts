// Who this agent is: a stable agent id kept in stateDir (unless configured) and a fresh boot id per start.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RwError } from '../proto/errors.js';

export interface Identity { agentId: string; bootId: string }

export const AGENT_ID_FILE = 'agent-id';

export function loadIdentity(stateDir: string, configuredId = ''): Identity {
  const bootId = randomUUID();
  if (configuredId) return { agentId: configuredId, bootId };
  const file = join(stateDir, AGENT_ID_FILE);
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (id) return { agentId: id, bootId };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new RwError('AGENT_ERR_SPOOL', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
  }
  const agentId = randomUUID();
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    // Write then rename, so a crash never leaves an empty id that would mint a second identity.
    writeFileSync(file + '.tmp', agentId + '\n', { mode: 0o600 });
    renameSync(file + '.tmp', file);
  } catch (e) {
    throw new RwError('AGENT_ERR_SPOOL', `cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
  return { agentId, bootId };
}
