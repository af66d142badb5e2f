#!/usr/bin/env node
// The `octoserve` command's entry point. It lives outside dist/ so that npm can link it at
// install time, before the first build has made dist/main.js.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('octoserve: not built yet (no packages/cli/dist/main.js): run `npm run build` in the repository first\n');
  process.exit(1);
}
await import(main.href);
