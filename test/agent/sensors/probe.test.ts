// agent/sensors/probe.ts: which backend for which host, table-driven; the real host's facts are consistent.
import t from 'tap';
import { existsSync } from 'node:fs';
import { decideSensor, onPath, probeHost } from '../../../agent/sensors/probe.js';

t.test('decideSensor', async (t) => {
  const all = { root: true, bpftrace: true, btf: true, strace: true };
  const table: [Parameters<typeof decideSensor>[0], Parameters<typeof decideSensor>[1], string, RegExp][] = [
    [all, 'auto', 'ebpf', /root, bpftrace and BTF/],
    [{ ...all, root: false }, 'auto', 'ptrace', /not root/],
    [{ ...all, btf: false }, 'auto', 'ptrace', /no BTF/],
    [{ ...all, bpftrace: false, strace: false }, 'auto', 'procfs', /DEGRADED/],
    [{ root: false, bpftrace: false, btf: false, strace: false }, 'auto', 'procfs', /not root, no bpftrace or libbpf sensor, no BTF/],
    [{ ...all, libbpf: true }, 'auto', 'ebpf', /root, BTF and the libbpf sensor present \(bpftrace as fallback\)/],
    [{ ...all, bpftrace: false, libbpf: true }, 'auto', 'ebpf', /the libbpf sensor present$/],
    [{ ...all, bpftrace: false, libbpf: true, btf: false }, 'auto', 'ptrace', /no BTF/],
    [{ ...all, bpftrace: false, libbpf: false }, 'auto', 'ptrace', /no bpftrace or libbpf sensor/],
    [all, 'procfs', 'procfs', /forced/],
    [{ ...all, root: false }, 'ebpf', 'ebpf', /forced/],
  ];
  for (const [facts, forced, kind, reason] of table) {
    const c = decideSensor(facts, forced);
    t.equal(c.kind, kind, JSON.stringify({ facts, forced }));
    t.match(c.reason, reason);
  }
});

t.test('probeHost on this machine', async (t) => {
  const f = probeHost();
  t.equal(f.root, process.getuid?.() === 0);
  t.equal(typeof f.strace, 'boolean');
  t.equal(f.libbpf, existsSync(new URL('../../../dist/sensor/runwarden-sensor', import.meta.url)), 'the built libbpf sensor is found');
  t.equal(probeHost({ strace: '/nonexistent/strace' }).strace, false);
});

t.test('onPath finds an executable by name or path without running it', async (t) => {
  t.equal(onPath('sh'), true, 'a name in PATH');
  t.equal(onPath('/bin/sh'), true, 'a path');
  t.equal(onPath('rw-no-such-command'), false);
  const dir = t.testdir({ plain: 'x' });
  t.equal(onPath(`${dir}/plain`), false, 'a file that is not executable');
  t.equal(onPath('/usr/bin'), false, 'a directory');
  const f = probeHost();
  if (f.root && f.btf && f.libbpf) t.equal(f.strace, onPath('strace'), 'with eBPF settled, strace is looked up, not run');
});
