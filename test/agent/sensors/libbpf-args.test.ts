// agent/sensors/libbpf-args.ts: the script's options as the libbpf loader's argv, and what it refuses.
import t from 'tap';
import { loaderArgs } from '../../../agent/sensors/libbpf-args.js';
import { SCRIPT_DEFAULTS } from '../../../agent/sensors/bpftrace-script.js';
import type { ScriptOptions } from '../../../agent/sensors/bpftrace-script.js';

const opts = (o: Partial<ScriptOptions> = {}): ScriptOptions => ({ ...SCRIPT_DEFAULTS, ...o });
/** The values that follow each occurrence of a flag. */
const values = (args: string[], flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

t.test('every option reaches the loader', async (t) => {
  const a = loaderArgs(opts({
    argvChunkBytes: 128, argvChunks: 2, writeFlushMillis: 500, writeBudget: 8, dnsPort: 5353, procReads: false,
    sensitivePrefixes: ['/root/.aws/', '/root/.aws/', '/home/u/.ssh/id_'], excludePids: [10, 10, 0, -1], protectedPids: [11],
    protectedComms: ['runwarden', 'a-very-long-comm-name'], trackPids: [12, 13], dirfdSensitiveNames: ['credentials', ''],
  }), { ringbufBytes: 65536, pollMillis: 5, mapKeys: 1024, backlogBytes: 8 << 20 });
  const table: [string, string[]][] = [
    ['--argv-chunk', ['128']], ['--argv-chunks', ['2']], ['--flush-ms', ['500']], ['--write-budget', ['8']], ['--dns-port', ['5353']],
    ['--ringbuf-bytes', ['65536']], ['--poll-ms', ['5']], ['--map-keys', ['1024']], ['--backlog-bytes', [String(8 << 20)]],
    ['--prefix', ['/root/.aws/', '/home/u/.ssh/id_']], ['--exclude-pid', ['10']], ['--protect-pid', ['11']],
    ['--protect-comm', ['runwarden', 'a-very-long-com']], ['--track-pid', ['12', '13']], ['--dirfd-name', ['credentials']],
  ];
  for (const [flag, want] of table) t.same(values(a, flag), want, flag);
  t.ok(a.includes('--no-proc-reads'));
  t.notOk(loaderArgs(opts()).includes('--no-proc-reads'), 'proc reads by default');
  t.same(values(loaderArgs(opts()), '--dirfd-name'), SCRIPT_DEFAULTS.dirfdSensitiveNames, 'the default credential names');
});

t.test('refuses what the loader cannot carry', async (t) => {
  const bad: [string, Partial<ScriptOptions>, object?][] = [
    ['argvChunkBytes', { argvChunkBytes: 193 }], ['argvChunks', { argvChunks: 17 }], ['writeFlushMillis', { writeFlushMillis: 50 }],
    ['writeBudget', { writeBudget: -1 }], ['dnsPort', { dnsPort: 0 }], ['prefix longer', { sensitivePrefixes: ['/' + 'x'.repeat(190)] }],
    ['control character', { sensitivePrefixes: ['/tmp/\n'] }], ['dirfd name longer', { dirfdSensitiveNames: ['n'.repeat(64)] }],
    ['at most 256 sensitive prefixes', { sensitivePrefixes: Array.from({ length: 257 }, (_, i) => `/p${i}`) }],
    ['trackPids', { trackPids: Array.from({ length: 4097 }, (_, i) => i + 1) }],
    ['ringbufBytes', {}, { ringbufBytes: 100 }], ['pollMillis', {}, { pollMillis: 0 }], ['mapKeys', {}, { mapKeys: 1 }], ['backlogBytes', {}, { backlogBytes: 4096 }],
  ];
  for (const [msg, o, l] of bad) t.throws(() => loaderArgs(opts(o), l), { name: 'RangeError', message: new RegExp(msg) }, msg);
  t.ok(loaderArgs(opts({ sensitivePrefixes: ['/' + 'x'.repeat(189)] })).includes('/' + 'x'.repeat(189)), 'a 190-byte prefix whole (bpftrace cut it at 63)');
});
