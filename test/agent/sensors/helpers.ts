// Shared by the sensor tests: run a command and wait for it, wait for events, a tiny DNS server on loopback.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import type { SensorEvent } from '../../../agent/sensors/types.js';

export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<{ pid: number; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    c.on('error', reject);
    c.on('close', (code) => resolve({ pid: c.pid!, code, out }));
  });
}

export async function waitFor(pred: () => boolean, timeoutMillis = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMillis;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return pred();
}

export type Of<K extends SensorEvent['kind']> = Extract<SensorEvent, { kind: K }>;
export function ofKind<K extends SensorEvent['kind']>(evs: SensorEvent[], kind: K): Of<K>[] {
  return evs.filter((e): e is Of<K> => e.kind === kind);
}

/** Pids of the tree under root, from fork events. */
export function descendants(evs: SensorEvent[], root: number): Set<number> {
  const set = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const e of ofKind(evs, 'fork')) {
      if (set.has(e.pid) && e.fork.childPid && !set.has(e.fork.childPid)) { set.add(e.fork.childPid); grew = true; }
    }
  }
  return set;
}

function encodeName(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

/** Answers A queries for `names` (name → IPv4), NXDOMAIN otherwise. */
export async function startDns(host: string, names: Record<string, string>): Promise<Socket> {
  const sock = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    let pos = 12;
    const labels: string[] = [];
    while (pos < msg.length && msg[pos]! !== 0) { labels.push(msg.subarray(pos + 1, pos + 1 + msg[pos]!).toString()); pos += 1 + msg[pos]!; }
    const qtype = msg.readUInt16BE(pos + 1);
    const qEnd = pos + 5;
    const name = labels.join('.').toLowerCase();
    const ip = names[name];
    const answer = ip !== undefined && qtype === 1;
    const head = Buffer.alloc(12);
    msg.copy(head, 0, 0, 2);
    head.writeUInt16BE(0x8180 | (ip === undefined ? 3 : 0), 2);
    head.writeUInt16BE(1, 4);
    head.writeUInt16BE(answer ? 1 : 0, 6);
    const parts = [head, msg.subarray(12, qEnd)];
    if (answer) {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); rr.writeUInt16BE(1, 2); rr.writeUInt16BE(1, 4); rr.writeUInt32BE(60, 6); rr.writeUInt16BE(4, 10);
      ip.split('.').forEach((o, i) => rr.writeUInt8(Number(o), 12 + i));
      parts.push(rr);
    }
    sock.send(Buffer.concat(parts), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => { sock.once('error', reject); sock.bind(53, host, () => resolve()); });
  return sock;
}

export { encodeName };
