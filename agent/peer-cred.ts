// Finds the process on the other end of an accepted Unix socket, the way SO_PEERCRED would (Node has
// no API for it): our fd → socket inode → the peer socket's owner as `ss -xp` lists it (sock_diag).
import { execFile } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';

/** From `ss -xpnH` output: the pid owning the socket whose peer is `inode`. Pure. */
export function parseSsPeer(output: string, inode: string): number | undefined {
  for (const line of output.split('\n')) {
    const f = line.trim().split(/\s+/);
    // u_str ESTAB recvq sendq local localInode peer peerInode users:((…,pid=N,fd=M))
    if (f.length >= 8 && f[7] === inode) {
      const m = /pid=(\d+)/.exec(line);
      if (m) return Number(m[1]);
    }
  }
  return undefined;
}

function socketInode(sock: Socket): string | undefined {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  try {
    return /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  } catch {
    return undefined;
  }
}

export function peerPid(sock: Socket): Promise<number | undefined> {
  const inode = socketInode(sock);
  if (!inode) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile('ss', ['-xpnH'], { maxBuffer: 16 * 1024 * 1024, timeout: 5000 }, (err, stdout) => {
      resolve(err ? undefined : parseSsPeer(stdout, inode));
    });
  });
}
