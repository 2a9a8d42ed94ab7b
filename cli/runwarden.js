#!/usr/bin/env -S node --max-semi-space-size=4 --single-threaded-gc
// Shim installed as node_modules/.bin/runwarden (and /usr/local/bin/runwarden); the command itself is compiled to dist/.
// The V8 options above are for the daemons that sit beside the builds on a runner host (README "Performance"): a young
// generation of at most 4 MiB per semi-space and garbage collection on the main thread only. Against the defaults (16 MiB,
// helper threads on every core) the warm host agent used less CPU per make job and 85 instead of 114–183 MiB RSS,
// and no collection thread competes with the build for its cores.
import { cliEntry } from '../dist/cli/main.js';

cliEntry();
