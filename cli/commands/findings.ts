// `runwarden findings`: not built yet.
import { RwError } from '../../proto/errors.js';
import type { CliIo } from '../io.js';

export async function main(_args: string[], _io: CliIo): Promise<number> {
  throw new RwError('CLI_ERR_USAGE', 'findings is not implemented yet');
}
