// `runwarden token`: a new random token, and the sha256 the collector config stores instead of it.
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs, str } from '../args.js';
import type { CliIo } from '../io.js';

export async function main(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, { 'agent-id': 'string' });
  const token = randomBytes(32).toString('base64url');
  const sha256 = createHash('sha256').update(token).digest('hex');
  io.out(JSON.stringify({ token, sha256, agentId: str(p, 'agent-id') ?? '*' }) + '\n');
  return 0;
}
