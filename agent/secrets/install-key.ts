// The per-install HMAC key for secret fingerprints: created once in the state dir, mode 0600.

import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RwError } from '../../proto/errors.js';

export const INSTALL_KEY_FILE = 'install.key';
export const INSTALL_KEY_BYTES = 32;

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/**
 * Write a new key in full under a temporary name, then link it into place: link() fails on an existing
 * name, so a concurrent start never reads a half-written key and the first writer wins.
 */
async function create(path: string): Promise<void> {
  const key = randomBytes(INSTALL_KEY_BYTES);
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(key);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    // The umask may have narrowed the mode further, never widened it; make it exact anyway.
    await chmod(tmp, 0o600);
    await link(tmp, path);
  } catch (e) {
    if (errno(e) !== 'EEXIST') throw e;
  } finally {
    await unlink(tmp);
  }
}

/**
 * Read the install key from `stateDir`, creating it (32 random bytes, 0600, linked into place so two
 * agents starting together agree) when absent. A key of the wrong size or readable by others is an error:
 * fingerprints made with a replaced key would no longer match the audit log.
 */
export async function loadOrCreateInstallKey(stateDir: string): Promise<Buffer> {
  const path = join(stateDir, INSTALL_KEY_FILE);
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const present = await stat(path).then(() => true, (e: unknown) => {
      if (errno(e) === 'ENOENT') return false;
      throw e;
    });
    if (!present) await create(path);
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) {
      throw new RwError('AGENT_ERR_SECRET_KEY', `install key ${path} is accessible to group or others`, {
        details: { path, mode: (st.mode & 0o777).toString(8) },
      });
    }
    const existing = await readFile(path);
    if (existing.length !== INSTALL_KEY_BYTES) {
      throw new RwError('AGENT_ERR_SECRET_KEY', `install key ${path} has ${existing.length} bytes, expected ${INSTALL_KEY_BYTES}`, {
        details: { path, bytes: existing.length },
      });
    }
    return existing;
  } catch (e) {
    if (e instanceof RwError) throw e;
    throw new RwError('AGENT_ERR_SECRET_KEY', `install key ${path} cannot be created or read`, { cause: e, details: { path } });
  }
}
