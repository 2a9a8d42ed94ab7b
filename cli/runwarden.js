#!/usr/bin/env node
// Shim installed as node_modules/.bin/runwarden; the command itself is compiled to dist/.
import { cliEntry } from '../dist/cli/main.js';

cliEntry();
