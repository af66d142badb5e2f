// Generates TypeScript types for proto/octoserve/v1/*.proto into src/gen, then
// adds the `.js` extensions that NodeNext module resolution requires to the
// generated relative imports.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('..', import.meta.url));
const protoRoot = join(here, '../../proto');
const out = join(here, 'src/gen');
const protos = readdirSync(join(protoRoot, 'octoserve/v1'))
  .filter((f) => f.endsWith('.proto') && f !== 'collective.proto')
  .map((f) => `octoserve/v1/${f}`);

rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, [
  join(here, '../../node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js'),
  '--longs=Number', '--enums=String', '--defaults', '--oneofs', '--grpcLib=@grpc/grpc-js',
  '-I', protoRoot, '-O', out, ...protos,
], { stdio: 'inherit' });

function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (path.endsWith('.ts')) {
      const text = readFileSync(path, 'utf8').replace(/from '(\.{1,2}\/[^']+?)(?<!\.js)'/g, "from '$1.js'");
      writeFileSync(path, text);
    }
  }
}
walk(out);
