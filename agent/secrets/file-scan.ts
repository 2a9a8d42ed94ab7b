// Bounded scan of a file the job wrote: the first maxBytes only, so a huge artifact cannot stall the agent.

import { createReadStream } from 'node:fs';
import type { Exposure, Scanner } from './scanner.js';

export const FILE_SCAN_DEFAULTS = Object.freeze({ maxBytes: 8 * 1024 * 1024, highWaterMarkBytes: 256 * 1024 });

export interface FileScanResult {
  exposures: Exposure[];
  bytesScanned: number;
  /** The file was longer than maxBytes; the rest was not scanned. */
  truncated: boolean;
  /** errno code when the file could not be read (gone, a directory, no permission): an outcome, not a bug. */
  error?: string;
}

/** Scan `path` for secrets as channel FILE, location = path. */
export async function scanFile(scanner: Scanner, path: string, options: { maxBytes?: number } = {}): Promise<FileScanResult> {
  const maxBytes = options.maxBytes ?? FILE_SCAN_DEFAULTS.maxBytes;
  const exposures: Exposure[] = [];
  let bytesScanned = 0;
  let truncated = false;
  try {
    // Read one byte past the limit to learn whether the file was cut.
    const stream = createReadStream(path, { start: 0, end: maxBytes, highWaterMark: FILE_SCAN_DEFAULTS.highWaterMarkBytes });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let data = chunk;
      if (bytesScanned + data.length > maxBytes) {
        data = data.subarray(0, maxBytes - bytesScanned);
        truncated = true;
      }
      bytesScanned += data.length;
      exposures.push(...scanner.scan(data, 'FILE', path));
    }
    return { exposures, bytesScanned, truncated };
  } catch (e) {
    const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : 'EIO';
    return { exposures, bytesScanned, truncated, error: code };
  } finally {
    scanner.endStream('FILE', path);
  }
}
