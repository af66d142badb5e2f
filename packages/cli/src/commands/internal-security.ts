// The cluster token and the internal mutual-TLS material from flags and the
// environment, for the commands that run a part of a cluster (worker; launch's
// coordinator). A token is never a command-line value: `ps` would show it.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
// from wire, not the coordinator: a worker process loads this file and none of the coordinator's packages
import { CLUSTER_TOKEN_ENV, INTERNAL_TLS_ENV } from '@octoserve/wire';
import type { InternalTls } from '@octoserve/wire';
import { UsageError } from '../errors.js';
import type { Command } from 'commander';
import { flag } from './flags.js';

/** Flag values by flag name ('cluster-token-file'), as internalSecurityFromFlags reads them. */
export type FlagValues = Record<string, string | undefined>;
const stringFlag = (values: FlagValues, name: string): string | undefined => values[name];

export interface InternalSecurityFlags {
  clusterToken?: string;
  tls?: InternalTls;
}

/** The flag names one command uses (launch already has --tls-cert for its client API). */
export interface SecurityFlagNames {
  tokenFile: string;
  ca: string;
  cert: string;
  key: string;
}

export const WORKER_SECURITY_FLAGS: SecurityFlagNames = { tokenFile: 'cluster-token-file', ca: 'tls-ca', cert: 'tls-cert', key: 'tls-key' };

/** What --help says of each of the flags `names` (the token file's and the three TLS files'). */
export interface SecurityHelp {
  tokenFile: string;
  ca: string;
  cert: string;
  key: string;
}

const camel = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Adds the flags `names` to `cmd`, and a --cluster-token (not in --help) that is refused with the reason. */
export function addSecurityFlags(cmd: Command, names: SecurityFlagNames, help: SecurityHelp): Command {
  return cmd
    .addOption(flag(`--${names.tokenFile} FILE`, help.tokenFile))
    .addOption(flag(`--${names.ca} FILE`, help.ca))
    .addOption(flag(`--${names.cert} FILE`, help.cert))
    .addOption(flag(`--${names.key} FILE`, help.key))
    .addOption(flag('--cluster-token TOKEN', '').hideHelp());
}

/** The values of the flags addSecurityFlags added, by flag name. */
export function securityValues(cmd: Command, names: SecurityFlagNames): FlagValues {
  const values: FlagValues = {};
  for (const name of [names.tokenFile, names.ca, names.cert, names.key, 'cluster-token']) values[name] = cmd.getOptionValue(camel(name)) as string | undefined;
  return values;
}

/** A file a flag names, or a UsageError that says why it cannot be read. */
export function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new UsageError(`--${flag} ${path}: cannot read it (${why})`);
  }
}

function tokenOf(flags: FlagValues, names: SecurityFlagNames, env: NodeJS.ProcessEnv): string | undefined {
  if (stringFlag(flags, 'cluster-token') !== undefined) {
    throw new UsageError(`--cluster-token would show the token to anyone who runs ps; put it in a file for --${names.tokenFile} FILE, or in $${CLUSTER_TOKEN_ENV}`);
  }
  const file = stringFlag(flags, names.tokenFile);
  if (file !== undefined) {
    const token = readFlagFile(names.tokenFile, file).toString('utf8').trim();
    if (token === '') throw new UsageError(`--${names.tokenFile} ${file}: the file is empty`);
    return token;
  }
  const fromEnv = env[CLUSTER_TOKEN_ENV]?.trim();
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** Checks that the PEM parses and the key belongs to the certificate, so a mistake shows at start, not at the first call. */
function checked(tls: InternalTls, source: string): InternalTls {
  try {
    createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key });
  } catch (err) {
    throw new UsageError(`${source}: not a usable CA, certificate and key (${(err as Error).message})`);
  }
  return tls;
}

function tlsOf(flags: FlagValues, names: SecurityFlagNames, env: NodeJS.ProcessEnv): InternalTls | undefined {
  const paths = { ca: stringFlag(flags, names.ca), cert: stringFlag(flags, names.cert), key: stringFlag(flags, names.key) };
  const given = Object.values(paths).filter((p) => p !== undefined).length;
  if (given > 0) {
    if (paths.ca === undefined || paths.cert === undefined || paths.key === undefined) {
      throw new UsageError(`--${names.ca}, --${names.cert} and --${names.key} go together (mutual TLS needs the CA, this node's certificate and its key)`);
    }
    const tls = { ca: readFlagFile(names.ca, paths.ca), cert: readFlagFile(names.cert, paths.cert), key: readFlagFile(names.key, paths.key) };
    return checked(tls, `--${names.ca} ${paths.ca}, --${names.cert} ${paths.cert}, --${names.key} ${paths.key}`);
  }
  // a local coordinator hands its workers the PEM text itself
  const pem = { ca: env[INTERNAL_TLS_ENV.ca], cert: env[INTERNAL_TLS_ENV.cert], key: env[INTERNAL_TLS_ENV.key] };
  const inEnv = Object.values(pem).filter((p) => p !== undefined && p !== '').length;
  if (inEnv === 0) return undefined;
  if (pem.ca === undefined || pem.cert === undefined || pem.key === undefined || inEnv < 3) {
    throw new UsageError(`$${INTERNAL_TLS_ENV.ca}, $${INTERNAL_TLS_ENV.cert} and $${INTERNAL_TLS_ENV.key} go together`);
  }
  return checked({ ca: Buffer.from(pem.ca), cert: Buffer.from(pem.cert), key: Buffer.from(pem.key) }, `$${INTERNAL_TLS_ENV.ca}/CERT/KEY`);
}

/** The cluster token (--TOKEN-FILE, else $OCTOSERVE_CLUSTER_TOKEN) and mutual TLS (three files, else the PEM env), each or neither. */
export function internalSecurityFromFlags(flags: FlagValues, names: SecurityFlagNames = WORKER_SECURITY_FLAGS, env: NodeJS.ProcessEnv = process.env): InternalSecurityFlags {
  const clusterToken = tokenOf(flags, names, env);
  const tls = tlsOf(flags, names, env);
  return { ...(clusterToken === undefined ? {} : { clusterToken }), ...(tls === undefined ? {} : { tls }) };
}
