#!/usr/bin/env -S node --max-semi-space-size=4 --single-threaded-gc --heap-growing-percent=50 --interrupt-budget=540672
// Shim installed as node_modules/.bin/runwarden (and /usr/local/bin/runwarden); the command itself is compiled to dist/.
// The V8 options above are for the daemons that sit beside the builds on a runner host (README "Performance"): a young
// generation of at most 4 MiB per semi-space, garbage collection on the main thread only (no helper threads competing
// with the build for its cores) and an old generation let grow by half its live size before the next full collection.
// Measured with bench/overhead-host.js (--no-shim-flags gives node's defaults): less CPU per make job for the warm host
// agent and a peak RSS of ~140–157 instead of ~200 MiB over the three workloads. An interrupt budget 8× node's (V8
// optimises a function after more of its bytecode ran): a build's events come in bursts, and with the default V8 kept
// recompiling the agent's event path in every job (0.12–0.22 s of compiler threads per make job); with it, 0–0.09 s, and
// the daemons' CPU while a make job runs fell from 0.78–0.96 s to 0.54–0.75 s (2026-12-02, same run, alternated).

import { cliEntry } from '../dist/cli/main.js';

cliEntry();
