#!/usr/bin/env node
// The `octoserve` command: one subcommand per file under commands/.
import { runOctoserve } from './program.js';

void runOctoserve(process.argv.slice(2)).then((code) => { process.exitCode = code; });
