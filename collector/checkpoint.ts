// The checkpoint signing key: an ed25519 pair made once in stateDir (private key 0600), and sign/verify of chain heads.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RwError } from '../proto/errors.js';

export const PRIVATE_KEY_FILE = 'checkpoint-ed25519.key';
export const PUBLIC_KEY_FILE = 'checkpoint-ed25519.pub';

export interface CheckpointKey { privateKey: KeyObject; publicKeyDer: Buffer; publicKeyPath: string }

/** Loads the key pair from stateDir, generating it on first start. The public key file is what auditors pin. */
export function loadOrCreateCheckpointKey(stateDir: string): CheckpointKey {
  const privPath = join(stateDir, PRIVATE_KEY_FILE);
  const pubPath = join(stateDir, PUBLIC_KEY_FILE);
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    let privateKey: KeyObject;
    if (existsSync(privPath)) {
      privateKey = createPrivateKey(readFileSync(privPath));
      if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${privPath} is not an ed25519 key`);
    } else {
      const pair = generateKeyPairSync('ed25519');
      privateKey = pair.privateKey;
      // wx: never overwrite a key another process wrote meanwhile; 0600 from the first byte.
      writeFileSync(privPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    }
    chmodSync(privPath, 0o600);
    const pub = createPublicKey(privateKey);
    const pem = pub.export({ type: 'spki', format: 'pem' });
    if (!existsSync(pubPath) || readFileSync(pubPath, 'utf8') !== pem) writeFileSync(pubPath, pem, { mode: 0o644 });
    return { privateKey, publicKeyDer: pub.export({ type: 'spki', format: 'der' }), publicKeyPath: pubPath };
  } catch (e) {
    throw new RwError('AUDIT_ERR_CHECKPOINT', `checkpoint key in ${stateDir} cannot be loaded: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Reads a public key file (PEM or DER SPKI) and returns its DER SPKI bytes. */
export function readPublicKeyDer(path: string): Buffer {
  try {
    const bytes = readFileSync(path);
    const key = bytes.includes('-----BEGIN') ? createPublicKey(bytes) : createPublicKey({ key: bytes, format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an ed25519 public key');
    return key.export({ type: 'spki', format: 'der' });
  } catch (e) {
    throw new RwError('AUDIT_ERR_CHECKPOINT', `public key ${path} cannot be read: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

export function signHash(privateKey: KeyObject, hash: Uint8Array): Buffer {
  return sign(null, hash, privateKey);
}

export function verifyHashSignature(publicKeyDer: Uint8Array, hash: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' });
    return verify(null, hash, key, signature);
  } catch {
    return false;
  }
}
