// Where the admin token comes from: $OCTOSERVE_ADMIN_TOKEN, else the file a coordinator on
// this machine wrote for its port (readable by its user only), as `octoserve launch` does
// when no token is configured. Admin calls send it as `authorization: Bearer <token>`.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The file a coordinator serving on `port` keeps its generated admin token in. */
export function adminTokenFile(port: number | string): string {
  const config = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(config, 'octoserve', `admin-token-${port}`);
}

/** The admin token for the coordinator at `address`, if one can be found. */
export function findAdminToken(address: string): string | undefined {
  const fromEnv = process.env.OCTOSERVE_ADMIN_TOKEN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const file = adminTokenFile(address.slice(address.lastIndexOf(':') + 1));
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}
