// deploy/ checked against itself and against the CLI, without a cluster: every Kubernetes object
// validates against its schema and has no field the schema lacks; names, labels, ports, ConfigMaps
// and volumes refer to objects that exist; the coordinator and the workers agree on the world size
// and on where to meet; the systemd units are complete and agree; and every flag that a manifest,
// a unit or deploy/local/start.sh passes to `octoserve <command>` is listed by its --help.
// Each check returns the problems it finds. deploy/ must have none, and a broken copy of it must
// get its problem named (the second half of this file).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { CLI_MAIN } from './helpers.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const K8S_DIR = join(REPO, 'deploy', 'k8s');
const SYSTEMD_DIR = join(REPO, 'deploy', 'systemd');
const START_SH = join(REPO, 'deploy', 'local', 'start.sh');
/** The tensor-parallel degree every deployment is written for. */
const TP = 8;

type Json = Record<string, unknown>;
/** A Kubernetes object as parsed, to be read through kubernetes-models' types once validated. */
type KObject = Json & { apiVersion: string; kind: string };
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// Kubernetes: loading and schemas
// ---------------------------------------------------------------------------------------------

/** One object of a manifest; `at` names its file and the object for messages. */
interface Manifest {
  at: string;
  kind: string;
  name: string;
  namespace: string | undefined;
  obj: KObject;
}

interface Parsed {
  docs: { at: string; body: unknown }[];
  problems: string[];
}

/** The objects in every .yaml under `dir` except kustomization.yaml, and what would not parse. */
function loadManifests(dir: string): Parsed {
  const parsed = yamlFiles(dir).filter((f) => f !== 'kustomization.yaml')
    .map((f) => parseManifest(relative(REPO, join(dir, f)), readFileSync(join(dir, f), 'utf8')));
  return { docs: parsed.flatMap((p) => p.docs), problems: parsed.flatMap((p) => p.problems) };
}

/** The documents of one file, read as YAML 1.1 as Kubernetes does (an unquoted `yes` is true). */
function parseManifest(rel: string, text: string): Parsed {
  const out: Parsed = { docs: [], problems: [] };
  parseAllDocuments(text, { version: '1.1' }).forEach((doc, i) => {
    for (const err of doc.errors) out.problems.push(`${rel} document ${i + 1}: ${err.message}`);
    const body: unknown = doc.toJS();
    if (body !== null && doc.errors.length === 0) out.docs.push({ at: `${rel} document ${i + 1}`, body });
  });
  return out;
}

const yamlFiles = (dir: string): string[] => readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();

function toManifest(at: string, obj: KObject): Manifest {
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const kind = String(obj.kind);
  const name = typeof meta.name === 'string' ? meta.name : '';
  return { at: `${at} (${kind} ${name})`, kind, name, namespace: typeof meta.namespace === 'string' ? meta.namespace : undefined, obj };
}

interface ModelClass {
  new (data: unknown): object;
  readonly apiVersion: string;
  readonly kind: string;
  readonly prototype: { validate(): void };
}

/**
 * Validates one object against the schema kubernetes-models has for its apiVersion and kind; a
 * kind it has no schema for is a problem, not a pass. Then reports fields the schema lacks (the
 * schemas allow unknown fields, so a misspelt `readinesProbe` would pass validation unnoticed).
 */
async function schemaProblems(at: string, body: unknown): Promise<string[]> {
  if (!isRecord(body)) return [`${at}: not a mapping`];
  const { apiVersion, kind } = body;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return [`${at}: apiVersion and kind must be strings`];
  if (!/^([a-z0-9.-]+\/)?v\d+[a-z0-9]*$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) {
    return [`${at}: '${apiVersion}' '${kind}' is not an apiVersion and a kind`];
  }
  let model: ModelClass | undefined;
  try {
    const mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, ModelClass | undefined>;
    model = mod[kind];
  } catch (err) {
    // ERR_MODULE_NOT_FOUND or ERR_PACKAGE_PATH_NOT_EXPORTED: no such group, version or kind
    return [`${at}: kubernetes-models has no schema for ${apiVersion} ${kind} (${(err as Error).message.split('\n')[0]})`];
  }
  if (model?.kind !== kind || model.apiVersion !== apiVersion) return [`${at}: kubernetes-models has no schema for ${apiVersion} ${kind}`];
  const tracker = new FieldTracker();
  try {
    model.prototype.validate.call(tracker.wrap(new model(body), ''));
  } catch (err) {
    return [`${at} (${kind}): ${(err as Error).message}`];
  }
  return tracker.unread().map((path) => `${at} (${kind}): ${path} is not a field of its schema`);
}

/**
 * Records which fields a validator reads. The validators kubernetes-models ships (compiled ajv)
 * read every property their schema names and enumerate only free-form maps (labels, resource
 * amounts), so after a validation that passed, a key that was never read, in an object that was
 * never enumerated, is one the schema does not have.
 */
class FieldTracker {
  private readonly checks: (() => string[])[] = [];

  wrap<T>(value: T, path: string): T {
    if (typeof value !== 'object' || value === null) return value;
    const target = value as object;
    const read = new Set<string>();
    const children = new Map<string, unknown>();
    let enumerated = Array.isArray(value);
    this.checks.push(() => (enumerated ? [] : Object.keys(target).filter((k) => !read.has(k)).map((k) => `${path}.${k}`)));
    return new Proxy(target, {
      get: (t, key, receiver) => {
        const v: unknown = Reflect.get(t, key, receiver);
        if (typeof key !== 'string') return v;
        read.add(key);
        if (typeof v !== 'object' || v === null) return v;
        if (!children.has(key)) children.set(key, this.wrap(v, Array.isArray(t) ? `${path}[${key}]` : `${path}.${key}`));
        return children.get(key);
      },
      has: (t, key) => {
        if (typeof key === 'string') read.add(key);
        return Reflect.has(t, key);
      },
      getOwnPropertyDescriptor: (t, key) => {
        if (typeof key === 'string') read.add(key);
        return Reflect.getOwnPropertyDescriptor(t, key);
      },
      ownKeys: (t) => {
        enumerated = true;
        return Reflect.ownKeys(t);
      },
    }) as T;
  }

  unread(): string[] {
    return this.checks.flatMap((check) => check());
  }
}

/** kustomization.yaml lists exactly the manifests in its folder. */
function kustomizationProblems(files: readonly string[], kustomization: unknown): string[] {
  if (!isRecord(kustomization) || kustomization.kind !== 'Kustomization') return ['kustomization.yaml: not a Kustomization'];
  const listed = Array.isArray(kustomization.resources) ? kustomization.resources.map(String) : [];
  const present = files.filter((f) => f !== 'kustomization.yaml');
  return [
    ...present.filter((f) => !listed.includes(f)).map((f) => `kustomization.yaml: ${f} is not listed in resources`),
    ...listed.filter((f) => !present.includes(f)).map((f) => `kustomization.yaml: resource ${f} does not exist`),
  ];
}

// ---------------------------------------------------------------------------------------------
// Kubernetes: references between objects
// ---------------------------------------------------------------------------------------------

interface Workload {
  m: Manifest;
  replicas: number;
  pod: IPodTemplateSpec;
  selector: Record<string, string>;
  serviceName?: string;
}

const CLUSTER_SCOPED = new Set(['Namespace', 'PersistentVolume', 'StorageClass', 'ClusterRole', 'ClusterRoleBinding']);

function workloads(ms: readonly Manifest[]): Workload[] {
  return ms.flatMap((m): Workload[] => {
    if (m.kind !== 'Deployment' && m.kind !== 'StatefulSet') return [];
    const spec = (m.obj as IStatefulSet).spec; // a Deployment's spec has the same fields, less serviceName
    return [{
      m, replicas: spec?.replicas ?? 1, pod: spec?.template ?? {}, selector: spec?.selector.matchLabels ?? {},
      ...(m.kind === 'StatefulSet' ? { serviceName: spec?.serviceName } : {}),
    }];
  });
}

const podLabels = (w: Workload): Record<string, string> => w.pod.metadata?.labels ?? {};
const containersOf = (w: Workload): IContainer[] => w.pod.spec?.containers ?? [];
const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The object of `kind` called `name` in `namespace`. */
function lookup(ms: readonly Manifest[], kind: string, name: string | undefined, namespace: string | undefined): Manifest | undefined {
  return ms.find((m) => m.kind === kind && m.name === name && m.namespace === namespace);
}

/** The containerPort a Service or probe port (a name or a number) means, among `containers`. */
function resolvePort(containers: readonly IContainer[], port: number | string | undefined): number | undefined {
  for (const c of containers) {
    for (const p of c.ports ?? []) if (p.name === port || p.containerPort === port) return p.containerPort;
  }
  return undefined;
}

/**
 * A container's environment as Kubernetes builds it: envFrom ConfigMaps, then env. A value set
 * from the downward API is kept as its field path, known only once the pod runs.
 */
function environment(ms: readonly Manifest[], c: IContainer, namespace: string | undefined): Map<string, string | { fieldPath: string }> {
  const env = new Map<string, string | { fieldPath: string }>();
  for (const from of c.envFrom ?? []) {
    const cm = lookup(ms, 'ConfigMap', from.configMapRef?.name, namespace)?.obj as IConfigMap | undefined;
    for (const [k, v] of Object.entries(cm?.data ?? {})) env.set(`${from.prefix ?? ''}${k}`, v);
  }
  for (const e of c.env ?? []) {
    const key = e.valueFrom?.configMapKeyRef;
    const cm = key === undefined ? undefined : lookup(ms, 'ConfigMap', key.name, namespace)?.obj as IConfigMap | undefined;
    const field = e.valueFrom?.fieldRef?.fieldPath;
    env.set(e.name, field !== undefined ? { fieldPath: field } : key !== undefined ? cm?.data?.[key.key] ?? '' : e.value ?? '');
  }
  return env;
}

const VAR_REF = /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g;

/** An argument with $(VAR) replaced as the kubelet does; downward-API values stay as $(VAR). */
function expand(arg: string, env: ReadonlyMap<string, string | { fieldPath: string }>): string {
  return arg.replace(VAR_REF, (ref, name: string) => {
    const v = env.get(name);
    return typeof v === 'string' ? v : ref;
  });
}

/** Names, labels, ports, ConfigMaps, volumes and namespaces that the objects refer to exist. */
function referenceProblems(ms: readonly Manifest[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const m of ms) {
    const id = `${m.kind} ${m.namespace ?? ''}/${m.name}`;
    if (seen.has(id)) problems.push(`${m.at}: a second ${m.kind} called ${m.name}`);
    seen.add(id);
    if (CLUSTER_SCOPED.has(m.kind)) continue;
    if (m.namespace === undefined) problems.push(`${m.at}: no metadata.namespace`);
    else if (lookup(ms, 'Namespace', m.namespace, undefined) === undefined) problems.push(`${m.at}: namespace ${m.namespace} is not defined here`);
  }
  const ws = workloads(ms);
  for (const w of ws) {
    const { m } = w;
    if (!selects(w.selector, podLabels(w))) problems.push(`${m.at}: spec.selector ${JSON.stringify(w.selector)} does not select its own pod labels ${JSON.stringify(podLabels(w))}`);
    const volumes = w.pod.spec?.volumes ?? [];
    for (const v of volumes) {
      const claim = v.persistentVolumeClaim?.claimName;
      if (claim !== undefined && lookup(ms, 'PersistentVolumeClaim', claim, m.namespace) === undefined) problems.push(`${m.at}: volume ${v.name} names PersistentVolumeClaim ${claim}, which is not defined`);
      const cm = v.configMap?.name;
      if (cm !== undefined && lookup(ms, 'ConfigMap', cm, m.namespace) === undefined) problems.push(`${m.at}: volume ${v.name} names ConfigMap ${cm}, which is not defined`);
      const secret = v.secret?.secretName;
      if (secret !== undefined && lookup(ms, 'Secret', secret, m.namespace) === undefined) problems.push(`${m.at}: volume ${v.name} names Secret ${secret}, which is not defined`);
    }
    for (const c of containersOf(w)) {
      const at = `${m.at} container ${c.name}`;
      for (const mount of c.volumeMounts ?? []) {
        if (!volumes.some((v) => v.name === mount.name)) problems.push(`${at}: volumeMount ${mount.name} names no volume of the pod`);
      }
      for (const from of c.envFrom ?? []) {
        const cm = from.configMapRef?.name;
        if (cm !== undefined && lookup(ms, 'ConfigMap', cm, m.namespace) === undefined) problems.push(`${at}: envFrom names ConfigMap ${cm}, which is not defined`);
        const secret = from.secretRef?.name;
        if (secret !== undefined && lookup(ms, 'Secret', secret, m.namespace) === undefined) problems.push(`${at}: envFrom names Secret ${secret}, which is not defined`);
      }
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.configMapKeyRef;
        if (ref === undefined) continue;
        const cm = lookup(ms, 'ConfigMap', ref.name, m.namespace)?.obj as IConfigMap | undefined;
        if (cm?.data?.[ref.key] === undefined) problems.push(`${at}: env ${e.name} reads key ${ref.key} of ConfigMap ${ref.name}, which is not defined`);
      }
      const env = environment(ms, c, m.namespace);
      for (const arg of [...(c.command ?? []), ...(c.args ?? [])]) {
        for (const [, name] of arg.matchAll(VAR_REF)) {
          if (!env.has(name!)) problems.push(`${at}: $(${name}) in '${arg}' is not in the container's environment (Kubernetes would pass it on literally)`);
        }
      }
      for (const [probeName, probe] of [['startupProbe', c.startupProbe], ['readinessProbe', c.readinessProbe], ['livenessProbe', c.livenessProbe]] as const) {
        const port = probe?.tcpSocket?.port ?? probe?.httpGet?.port ?? probe?.grpc?.port;
        if (port !== undefined && resolvePort([c], port) === undefined) problems.push(`${at}: ${probeName} port ${port} is not a port of the container`);
      }
    }
  }
  for (const m of ms.filter((x) => x.kind === 'Service')) {
    const spec = (m.obj as IService).spec ?? {};
    const selector = spec.selector ?? {};
    const targets = ws.filter((w) => w.m.namespace === m.namespace && selects(selector, podLabels(w)));
    if (targets.length === 0) {
      problems.push(`${m.at}: selector ${JSON.stringify(selector)} selects no pods of any Deployment or StatefulSet`);
      continue;
    }
    const containers = targets.flatMap(containersOf);
    for (const p of spec.ports ?? []) {
      const target = p.targetPort ?? p.port;
      if (resolvePort(containers, target) === undefined) {
        problems.push(`${m.at}: port ${p.name ?? p.port} has targetPort ${target}, which is not a containerPort of ${targets.map((w) => w.m.name).join(', ')}`);
      }
    }
  }
  for (const w of ws.filter((x) => x.serviceName !== undefined)) {
    const svc = lookup(ms, 'Service', w.serviceName, w.m.namespace);
    const spec = (svc?.obj as IService | undefined)?.spec;
    if (spec === undefined) problems.push(`${w.m.at}: serviceName ${w.serviceName} is not a Service defined here`);
    else if (spec.clusterIP !== 'None') problems.push(`${w.m.at}: serviceName ${w.serviceName} is not a headless Service (clusterIP: None), so its pods get no stable names`);
    else if (!selects(spec.selector ?? {}, podLabels(w))) problems.push(`${w.m.at}: headless Service ${w.serviceName} does not select its pods`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes: the coordinator and the workers agree
// ---------------------------------------------------------------------------------------------

/** The value of `--name V` or `--name=V` in `args`. */
function flag(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) return args[i + 1];
    if (args[i]!.startsWith(`--${name}=`)) return args[i]!.slice(name.length + 3);
  }
  return undefined;
}

/** host:port split at the last colon. */
function hostPort(addr: string | undefined): { host: string; port: number } | undefined {
  const i = addr?.lastIndexOf(':') ?? -1;
  if (addr === undefined || i < 0) return undefined;
  const port = Number(addr.slice(i + 1));
  return Number.isInteger(port) && port > 0 && port < 65536 ? { host: addr.slice(0, i), port } : undefined;
}

/** The containers of workloads that run `octoserve <command>`, with their args expanded. */
function running(ms: readonly Manifest[], command: string): { w: Workload; c: IContainer; args: string[]; env: Map<string, string | { fieldPath: string }> }[] {
  return workloads(ms).flatMap((w) => containersOf(w).filter((c) => c.args?.[0] === command).map((c) => {
    const env = environment(ms, c, w.m.namespace);
    return { w, c, env, args: (c.args ?? []).map((a) => expand(a, env)) };
  }));
}

/** The downward-API field path behind an argument that is exactly `$(VAR)`. */
function fieldOf(arg: string | undefined, env: ReadonlyMap<string, string | { fieldPath: string }>): string | undefined {
  const name = /^\$\(([A-Za-z_][A-Za-z0-9_]*)\)$/.exec(arg ?? '')?.[1];
  const v = name === undefined ? undefined : env.get(name);
  return typeof v === 'object' ? v.fieldPath : undefined;
}

function clusterProblems(ms: readonly Manifest[]): string[] {
  const coordinators = running(ms, 'launch');
  const workers = running(ms, 'worker');
  if (coordinators.length !== 1 || workers.length !== 1) {
    return [`want one container running \`octoserve launch\` and one running \`octoserve worker\`, found ${coordinators.length} and ${workers.length}`];
  }
  const problems: string[] = [];
  const co = coordinators[0]!;
  const wk = workers[0]!;
  const coAt = `${co.w.m.at} container ${co.c.name}`;
  const wkAt = `${wk.w.m.at} container ${wk.c.name}`;

  // the coordinator: one replica, listening on all interfaces on the ports it declares
  if (co.w.m.kind !== 'Deployment' || co.w.replicas !== 1) problems.push(`${coAt}: the coordinator should be a Deployment of 1 replica`);
  if (flag(co.args, 'host') !== '0.0.0.0') problems.push(`${coAt}: --host ${flag(co.args, 'host')}: the API must listen on 0.0.0.0 to be reachable from other pods`);
  const apiPort = resolvePort([co.c], 'api');
  if (apiPort === undefined || flag(co.args, 'port') !== String(apiPort)) problems.push(`${coAt}: --port ${flag(co.args, 'port')} is not its containerPort named api (${apiPort})`);
  const registry = hostPort(flag(co.args, 'registry'));
  if (registry?.host !== '0.0.0.0' || resolvePort([co.c], registry.port) === undefined) {
    problems.push(`${coAt}: --registry ${flag(co.args, 'registry')} should be 0.0.0.0 and one of its containerPorts`);
  }
  const model = flag(co.args, 'model');
  if (model !== undefined && !(co.c.volumeMounts ?? []).some((v) => model.startsWith(v.mountPath.replace(/\/?$/, '/')))) {
    problems.push(`${coAt}: --model ${model} is not under any of its volumeMounts`);
  }

  // the workers: a StatefulSet of TP ranks, one GPU each, named under its headless Service
  if (wk.w.m.kind !== 'StatefulSet') problems.push(`${wkAt}: the workers should be a StatefulSet (stable ranks and names)`);
  if (wk.w.replicas !== TP) problems.push(`${wkAt}: replicas ${wk.w.replicas}, want ${TP}`);
  const expect = flag(co.args, 'expect-workers');
  if (expect !== String(wk.w.replicas)) problems.push(`${coAt}: --expect-workers ${expect} but the worker StatefulSet has ${wk.w.replicas} replicas`);
  const world = flag(wk.args, 'world');
  if (world !== String(wk.w.replicas)) problems.push(`${wkAt}: --world ${world} but the StatefulSet has ${wk.w.replicas} replicas`);
  for (const c of containersOf(wk.w)) {
    const r = c.resources;
    for (const [which, amounts] of [['requests', r?.requests], ['limits', r?.limits]] as const) {
      if (String(amounts?.['nvidia.com/gpu']) !== '1') problems.push(`${wk.w.m.at} container ${c.name}: resources.${which} nvidia.com/gpu is ${amounts?.['nvidia.com/gpu']}, want 1`);
    }
  }
  if (fieldOf(flag(wk.args, 'rank'), wk.env) !== "metadata.labels['apps.kubernetes.io/pod-index']") {
    problems.push(`${wkAt}: --rank ${flag(wk.args, 'rank')} is not the pod index (an env var from metadata.labels['apps.kubernetes.io/pod-index'])`);
  }
  const listen = hostPort(flag(wk.args, 'listen'));
  if (listen?.host !== '0.0.0.0' || resolvePort([wk.c], listen.port) === undefined) problems.push(`${wkAt}: --listen ${flag(wk.args, 'listen')} should be 0.0.0.0 and one of its containerPorts`);
  const collective = Number(flag(wk.args, 'collective-port'));
  if (resolvePort([wk.c], collective) === undefined) problems.push(`${wkAt}: --collective-port ${flag(wk.args, 'collective-port')} is not one of its containerPorts`);
  const [podName, service, namespace, svc] = (flag(wk.args, 'advertise') ?? '').split('.');
  if (fieldOf(podName, wk.env) !== 'metadata.name' || service !== wk.w.serviceName || svc !== 'svc'
    || (namespace !== wk.w.m.namespace && fieldOf(namespace, wk.env) !== 'metadata.namespace')) {
    problems.push(`${wkAt}: --advertise ${flag(wk.args, 'advertise')} is not $(POD_NAME).${wk.w.serviceName}.$(POD_NAMESPACE).svc..., the pod's name under its headless Service`);
  }
  const headless = (lookup(ms, 'Service', wk.w.serviceName, wk.w.m.namespace)?.obj as IService | undefined)?.spec;
  if (headless !== undefined && headless.publishNotReadyAddresses !== true) {
    problems.push(`${wk.w.m.at}: Service ${wk.w.serviceName} needs publishNotReadyAddresses: true, as a worker must be reachable by name before it is ready`);
  }

  // the workers dial a Service port that reaches the coordinator's registry
  const dial = hostPort(flag(wk.args, 'coordinator'));
  const svcName = dial?.host.split('.')[0];
  const target = lookup(ms, 'Service', svcName, wk.w.m.namespace);
  const targetSpec = (target?.obj as IService | undefined)?.spec;
  const port = targetSpec?.ports?.find((p) => p.port === dial?.port);
  if (target === undefined || port === undefined || !selects(targetSpec?.selector ?? {}, podLabels(co.w))
    || resolvePort([co.c], port.targetPort ?? port.port) !== registry?.port) {
    problems.push(`${wkAt}: --coordinator ${flag(wk.args, 'coordinator')} is not a Service port that reaches the coordinator's --registry port ${registry?.port}`);
  }

  // the job queue named in the coordinator's environment is a Service here
  const redis = co.env.get('OCTOSERVE_REDIS_URL');
  if (typeof redis === 'string') {
    const url = new URL(redis);
    const svcSpec = (lookup(ms, 'Service', url.hostname.split('.')[0], co.w.m.namespace)?.obj as IService | undefined)?.spec;
    if (!svcSpec?.ports?.some((p) => p.port === Number(url.port || 6379))) problems.push(`${coAt}: OCTOSERVE_REDIS_URL ${redis} is not a Service port defined here`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The CLI's flags
// ---------------------------------------------------------------------------------------------

const helpCache = new Map<string, { text: string; problem?: string }>();

/** `octoserve <command> --help`, run once per command. */
function help(command: string): { text: string; problem?: string } {
  let h = helpCache.get(command);
  if (h === undefined) {
    const r = spawnSync(process.execPath, [CLI_MAIN, command, '--help'], { encoding: 'utf8', timeout: 60_000 });
    h = r.status === 0 ? { text: r.stdout } : { text: '', problem: `\`octoserve ${command} --help\` exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n')[0]}` };
    helpCache.set(command, h);
  }
  return h;
}

/** Every `--flag` in `args` appears in `helpText`. */
function flagProblems(at: string, command: string, args: readonly string[], helpText: string): string[] {
  return args.flatMap((a) => {
    const name = /^--([a-z0-9][a-z0-9-]*)(=|$)/.exec(a)?.[1];
    if (name === undefined) return [];
    const listed = new RegExp(`(^|[\\s,[(])--${name}(?![a-z0-9-])`, 'm').test(helpText);
    return listed ? [] : [`${at}: \`octoserve ${command}\` has no --${name} (it is not in \`octoserve ${command} --help\`)`];
  });
}

/** An invocation of `octoserve`: where it is written, the command, and the arguments after it. */
interface Invocation {
  at: string;
  command: string;
  args: string[];
}

function cliProblems(invocations: readonly Invocation[]): string[] {
  return invocations.flatMap((inv) => {
    const h = help(inv.command);
    return h.problem !== undefined ? [`${inv.at}: ${h.problem}`] : flagProblems(inv.at, inv.command, inv.args, h.text);
  });
}

/** Splits a shell command line into words (quotes, no expansion). */
function shellWords(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

// ---------------------------------------------------------------------------------------------
// systemd
// ---------------------------------------------------------------------------------------------

/** A unit file: section -> key -> values, in order (a key may repeat). */
type Unit = Map<string, Map<string, string[]>>;

function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section = '';
  for (const line of text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      section = header[1]!;
      if (!unit.has(section)) unit.set(section, new Map());
      continue;
    }
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq).trim();
    const keys = unit.get(section) ?? unit.set(section, new Map()).get(section)!;
    keys.set(key, [...(keys.get(key) ?? []), eq < 0 ? '' : line.slice(eq + 1).trim()]);
  }
  return unit;
}

const value = (u: Unit, section: string, key: string): string | undefined => u.get(section)?.get(key)?.at(-1);

/** KEY=value lines of an EnvironmentFile. */
function parseEnvFile(text: string): { vars: Map<string, string>; problems: string[] } {
  const vars = new Map<string, string>();
  const problems: string[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m === null) problems.push(`octoserve.env: '${line}' is not KEY=value`);
    else vars.set(m[1]!, m[2]!);
  }
  return { vars, problems };
}

/** The `octoserve` invocation in a unit's ExecStart. */
function execInvocation(name: string, u: Unit): Invocation | undefined {
  const words = shellWords(value(u, 'Service', 'ExecStart') ?? '');
  const i = words.findIndex((w) => basename(w) === 'octoserve');
  return i < 0 || words[i + 1] === undefined ? undefined : { at: `deploy/systemd/${name}`, command: words[i + 1]!, args: words.slice(i + 2) };
}

/** One unit is complete, safe, and refers only to variables the env file defines. */
function unitProblems(name: string, u: Unit, env: ReadonlyMap<string, string>): string[] {
  const at = `deploy/systemd/${name}`;
  const isService = name.endsWith('.service');
  const problems = (isService ? ['Unit', 'Service', 'Install'] : ['Unit', 'Install'])
    .filter((s) => !u.has(s)).map((s) => `${at}: no [${s}] section`);
  if (value(u, 'Install', 'WantedBy') === undefined) problems.push(`${at}: [Install] has no WantedBy, so enabling it does nothing`);
  if (!isService) return problems;
  for (const key of ['ExecStart', 'Restart', 'User', 'EnvironmentFile']) {
    if (!value(u, 'Service', key)) problems.push(`${at}: [Service] has no ${key}`);
  }
  if (value(u, 'Service', 'User') === 'root') problems.push(`${at}: runs as root; use a dedicated User`);
  if (value(u, 'Service', 'NoNewPrivileges') !== 'yes') problems.push(`${at}: NoNewPrivileges=yes is missing`);
  const envFile = value(u, 'Service', 'EnvironmentFile');
  if (envFile !== undefined && basename(envFile) !== 'octoserve.env') problems.push(`${at}: EnvironmentFile ${envFile} is not the octoserve.env shipped here`);
  const setHere = new Set((u.get('Service')?.get('Environment') ?? []).flatMap((e) => shellWords(e).map((w) => w.split('=')[0]!)));
  const exec = value(u, 'Service', 'ExecStart') ?? '';
  for (const [, braced, bare] of exec.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g)) {
    const v = (braced ?? bare)!;
    if (!env.has(v) && !setHere.has(v)) problems.push(`${at}: ExecStart uses \${${v}}, which octoserve.env does not define`);
  }
  const inv = execInvocation(name, u);
  if (inv === undefined) problems.push(`${at}: ExecStart does not run octoserve`);
  if (name.includes('@.') && inv !== undefined && flag(inv.args, 'rank') !== '%i') problems.push(`${at}: a template's --rank must be %i (the instance name), got ${flag(inv.args, 'rank')}`);
  return problems;
}

/** The units agree: world size, the registry port, distinct ports for every rank, known targets. */
function systemdClusterProblems(units: ReadonlyMap<string, Unit>, env: ReadonlyMap<string, string>): string[] {
  const invs = [...units].flatMap(([name, u]) => execInvocation(name, u) ?? []);
  const co = invs.find((i) => i.command === 'launch');
  const wk = invs.find((i) => i.command === 'worker');
  if (co === undefined || wk === undefined) return ['deploy/systemd: want a unit running `octoserve launch` and one running `octoserve worker`'];
  const problems: string[] = [];
  const world = Number(flag(wk.args, 'world'));
  if (world !== TP) problems.push(`${wk.at}: --world ${flag(wk.args, 'world')}, want ${TP}`);
  if (flag(co.args, 'expect-workers') !== flag(wk.args, 'world')) problems.push(`${co.at}: --expect-workers ${flag(co.args, 'expect-workers')} but workers run with --world ${flag(wk.args, 'world')}`);
  const registry = hostPort(flag(co.args, 'registry'));
  const dial = hostPort(env.get('OCTOSERVE_COORDINATOR'));
  if (registry === undefined || dial?.port !== registry.port) problems.push(`${co.at}: --registry ${flag(co.args, 'registry')} but workers dial OCTOSERVE_COORDINATOR=${env.get('OCTOSERVE_COORDINATOR')}`);
  // every port on the host, every rank's with %i replaced by the rank
  const ports = new Map<number, string>([[Number(flag(co.args, 'port')), `${co.at} --port`], [registry?.port ?? -1, `${co.at} --registry`]]);
  for (let rank = 0; rank < (Number.isInteger(world) ? world : 0); rank++) {
    const args = wk.args.map((a) => a.replaceAll('%i', String(rank)));
    for (const [what, port] of [['--listen', hostPort(flag(args, 'listen'))?.port], ['--collective-port', Number(flag(args, 'collective-port'))]] as const) {
      const where = `${wk.at} rank ${rank} ${what}`;
      if (port === undefined || !Number.isInteger(port) || port <= 0 || port >= 65536) problems.push(`${where}: not a port`);
      else if (ports.has(port)) problems.push(`${where}: port ${port} is already ${ports.get(port)}`);
      else ports.set(port, where);
    }
  }
  const known = new Set(['multi-user.target', 'network-online.target', 'redis-server.service', ...units.keys()]);
  for (const [name, u] of units) {
    for (const key of ['WantedBy', 'PartOf']) {
      for (const t of [...(u.get('Install')?.get(key) ?? []), ...(u.get('Unit')?.get(key) ?? [])].flatMap((v) => v.split(/\s+/))) {
        if (!known.has(t)) problems.push(`deploy/systemd/${name}: ${key}=${t} names no unit shipped here`);
      }
    }
  }
  return problems;
}

function loadSystemd(): { units: Map<string, Unit>; env: ReturnType<typeof parseEnvFile> } {
  const names = readdirSync(SYSTEMD_DIR).filter((f) => /\.(service|target)$/.test(f)).sort();
  return {
    units: new Map(names.map((n) => [n, parseUnit(readFileSync(join(SYSTEMD_DIR, n), 'utf8'))])),
    env: parseEnvFile(readFileSync(join(SYSTEMD_DIR, 'octoserve.env'), 'utf8')),
  };
}

// ---------------------------------------------------------------------------------------------
// deploy/local/start.sh
// ---------------------------------------------------------------------------------------------

/** The `octoserve launch` that start.sh execs, and what else it must do. */
function startScript(text: string): { invocation?: Invocation; problems: string[] } {
  const problems: string[] = [];
  if (!/^#!\/(usr\/)?bin\/(env )?(ba)?sh\b/.test(text)) problems.push('deploy/local/start.sh: no #!/bin/sh line');
  if (!/^set -eu\b/m.test(text)) problems.push('deploy/local/start.sh: no `set -eu`');
  if (!/npx turbo run build/.test(text)) problems.push('deploy/local/start.sh: does not build');
  const line = /^\s*exec node "?(?:\$root\/)?packages\/cli\/dist\/main\.js"? (.*)$/m.exec(text)?.[1];
  if (line === undefined) return { problems: [...problems, 'deploy/local/start.sh: no `exec node packages/cli/dist/main.js ...` line'] };
  const [command = '', ...args] = shellWords(line);
  if (command !== 'launch') problems.push(`deploy/local/start.sh: runs \`octoserve ${command}\`, want launch`);
  if (flag(args, 'tp') !== String(TP)) problems.push(`deploy/local/start.sh: --tp ${flag(args, 'tp')}, want ${TP}`);
  if (args.at(-1) !== '$@') problems.push('deploy/local/start.sh: does not pass its arguments on ("$@")');
  return { invocation: { at: 'deploy/local/start.sh', command, args: args.filter((a) => a !== '$@') }, problems };
}

// ---------------------------------------------------------------------------------------------
// The tests: deploy/ as it is
// ---------------------------------------------------------------------------------------------

const loaded = loadManifests(K8S_DIR);
const manifests = loaded.docs.filter((d) => isRecord(d.body)).map((d) => toManifest(d.at, d.body as KObject));
const kustomization: unknown = parseAllDocuments(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8'))[0]?.toJS();
const systemd = loadSystemd();
const start = startScript(readFileSync(START_SH, 'utf8'));

/** Deep copies of the real manifests, for breaking. */
const copy = (): Manifest[] => manifests.map((m) => ({ ...m, obj: structuredClone(m.obj) }));
const find = <T>(ms: readonly Manifest[], kind: string, name: string): T => {
  const m = ms.find((x) => x.kind === kind && x.name === name);
  assert.ok(m !== undefined, `no ${kind} ${name} in deploy/k8s`);
  return m.obj as T;
};
const workerSet = (ms: readonly Manifest[]): IStatefulSet => find<IStatefulSet>(ms, 'StatefulSet', 'octoserve-worker');
const podSpec = (ms: readonly Manifest[], kind: string, name: string): NonNullable<IPodTemplateSpec['spec']> =>
  find<IStatefulSet>(ms, kind, name).spec!.template.spec!;

function assertReports(problems: readonly string[], pattern: RegExp): void {
  assert.ok(problems.some((p) => pattern.test(p)), `expected a problem matching ${pattern}; got:\n  ${problems.join('\n  ') || '(none)'}`);
}

describe('deploy/k8s', () => {
  it('parses, and every object validates against its Kubernetes schema with no unknown fields', async () => {
    const problems = [...loaded.problems];
    for (const d of loaded.docs) problems.push(...await schemaProblems(d.at, d.body));
    assert.deepEqual(problems, []);
    assert.ok(manifests.length >= 8, `only ${manifests.length} objects`);
  });

  it('kustomization.yaml lists every manifest', () => {
    assert.deepEqual(kustomizationProblems(yamlFiles(K8S_DIR), kustomization), []);
  });

  it('objects refer only to objects, labels and ports that exist', () => {
    assert.deepEqual(referenceProblems(manifests), []);
  });

  it('the coordinator and the workers agree on the world size and where to meet', () => {
    assert.deepEqual(clusterProblems(manifests), []);
  });

  it('every flag a container passes to octoserve is in that command\'s --help', () => {
    const invocations = manifests.flatMap((m) => workloads([m])).flatMap((w) => containersOf(w)
      .filter((c) => c.image?.startsWith('octoserve:') === true)
      .map((c) => ({ at: `${w.m.at} container ${c.name}`, command: c.args?.[0] ?? '', args: c.args?.slice(1) ?? [] })));
    assert.equal(invocations.length, 2, 'one coordinator container and one worker container run the octoserve image');
    assert.deepEqual(cliProblems(invocations), []);
  });
});

describe('deploy/systemd', () => {
  it('every unit is complete and refers only to variables octoserve.env defines', () => {
    const problems = [...systemd.env.problems];
    for (const [name, u] of systemd.units) problems.push(...unitProblems(name, u, systemd.env.vars));
    assert.deepEqual(problems, []);
    assert.deepEqual([...systemd.units.keys()], ['octoserve-coordinator.service', 'octoserve-worker@.service', 'octoserve.target']);
  });

  it('the units agree on the world size, the registry and every rank\'s ports', () => {
    assert.deepEqual(systemdClusterProblems(systemd.units, systemd.env.vars), []);
  });

  it('every flag an ExecStart passes to octoserve is in that command\'s --help', () => {
    const invocations = [...systemd.units].flatMap(([name, u]) => execInvocation(name, u) ?? []);
    assert.equal(invocations.length, 2);
    assert.deepEqual(cliProblems(invocations), []);
  });
});

describe('deploy/local/start.sh', () => {
  it('builds and execs `octoserve launch --tp 8` with its arguments passed on', () => {
    assert.deepEqual(start.problems, []);
    assert.ok((statSync(START_SH).mode & 0o111) !== 0, 'start.sh is not executable');
  });

  it('passes only flags that `octoserve launch --help` lists', () => {
    assert.ok(start.invocation !== undefined);
    assert.deepEqual(cliProblems([start.invocation]), []);
  });

  it('is what `npm start` runs', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    assert.match(pkg.scripts?.start ?? '', /deploy\/local\/start\.sh/);
  });
});

// ---------------------------------------------------------------------------------------------
// The tests: each check reports a broken copy
// ---------------------------------------------------------------------------------------------

describe('the deploy checks catch', () => {
  it('a YAML error, a schema violation, a misspelt field and an unknown kind', async () => {
    const set = structuredClone(workerSet(manifests)) as unknown as Json & { spec: Json };
    assertReports(await schemaProblems('broken', { ...set, spec: { ...set.spec, replicas: 'eight' } }), /spec\/replicas must be integer/);
    const { podManagementPolicy, ...rest } = set.spec;
    assertReports(await schemaProblems('broken', { ...set, spec: { ...rest, podManagmentPolicy: podManagementPolicy } }), /\.spec\.podManagmentPolicy is not a field/);
    const yes = parseManifest('broken', 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [{name: c, args: [--appendonly, yes]}]\n');
    assertReports(await schemaProblems('broken', yes.docs[0]?.body), /args\/1 must be string/);
    assertReports(parseManifest('broken', 'a: 1\na: 2\n').problems, /unique/);
    assertReports(await schemaProblems('broken', { apiVersion: 'v1', kind: 'Servise', metadata: { name: 'x' } }), /no schema for v1 Servise/);
    assertReports(await schemaProblems('broken', { apiVersion: 'octoserve.dev/v1', kind: 'Cluster' }), /no schema for octoserve\.dev\/v1 Cluster/);
  });

  it('a manifest kustomization.yaml does not list, and a listed one that is missing', () => {
    assertReports(kustomizationProblems([...yamlFiles(K8S_DIR), 'extra.yaml'], kustomization), /extra\.yaml is not listed/);
    assertReports(kustomizationProblems(yamlFiles(K8S_DIR).filter((f) => f !== 'redis.yaml'), kustomization), /redis\.yaml does not exist/);
  });

  it('a Service selecting no pods, and a targetPort no container has', () => {
    const ms = copy();
    find<IService>(ms, 'Service', 'octoserve').spec!.selector!['app.kubernetes.io/component'] = 'coordinater';
    assertReports(referenceProblems(ms), /Service octoserve\): selector .* selects no pods/);
    const ms2 = copy();
    find<IService>(ms2, 'Service', 'octoserve').spec!.ports![1]!.targetPort = 'registy';
    assertReports(referenceProblems(ms2), /targetPort registy, which is not a containerPort/);
  });

  it('a StatefulSet whose serviceName is not a headless Service', () => {
    const ms = copy();
    delete find<IService>(ms, 'Service', 'octoserve-workers').spec!.clusterIP;
    assertReports(referenceProblems(ms), /serviceName octoserve-workers is not a headless Service/);
  });

  it('a missing ConfigMap, PersistentVolumeClaim, volume or $(VAR)', () => {
    const ms = copy();
    const pod = podSpec(ms, 'Deployment', 'octoserve-coordinator');
    pod.containers[0]!.envFrom![0]!.configMapRef!.name = 'octoserve-conf';
    pod.volumes![0]!.persistentVolumeClaim!.claimName = 'octoserve-model';
    pod.containers[0]!.volumeMounts![0]!.name = 'model';
    podSpec(ms, 'StatefulSet', 'octoserve-worker').containers[0]!.args![4] = '$(OCTOSERVE_T)';
    const problems = referenceProblems(ms);
    assertReports(problems, /envFrom names ConfigMap octoserve-conf/);
    assertReports(problems, /PersistentVolumeClaim octoserve-model, which is not defined/);
    assertReports(problems, /volumeMount model names no volume/);
    assertReports(problems, /\$\(OCTOSERVE_T\) in '\$\(OCTOSERVE_T\)' is not in the container's environment/);
  });

  it('a worker count that disagrees, and a worker without its GPU', () => {
    const ms = copy();
    workerSet(ms).spec!.replicas = 7;
    delete podSpec(ms, 'StatefulSet', 'octoserve-worker').containers[0]!.resources!.limits!['nvidia.com/gpu'];
    const problems = clusterProblems(ms);
    assertReports(problems, /replicas 7, want 8/);
    assertReports(problems, /--expect-workers 8 but the worker StatefulSet has 7 replicas/);
    assertReports(problems, /--world 8 but the StatefulSet has 7 replicas/);
    assertReports(problems, /resources\.limits nvidia\.com\/gpu is undefined, want 1/);
  });

  it('workers dialing the API instead of the registry, and a coordinator --port that is not its api port', () => {
    const ms = copy();
    const args = podSpec(ms, 'StatefulSet', 'octoserve-worker').containers[0]!.args!;
    args[args.indexOf('--coordinator') + 1] = 'octoserve:50051';
    const coArgs = podSpec(ms, 'Deployment', 'octoserve-coordinator').containers[0]!.args!;
    coArgs[coArgs.indexOf('--port') + 1] = '50053';
    const problems = clusterProblems(ms);
    assertReports(problems, /--coordinator octoserve:50051 is not a Service port that reaches the coordinator's --registry port 50052/);
    assertReports(problems, /--port 50053 is not its containerPort named api/);
  });

  it('a worker advertising a name outside its headless Service, a fixed rank, unpublished names', () => {
    const ms = copy();
    const args = podSpec(ms, 'StatefulSet', 'octoserve-worker').containers[0]!.args!;
    args[args.indexOf('--advertise') + 1] = '$(POD_NAME).octoserve.$(POD_NAMESPACE).svc.cluster.local';
    args[args.indexOf('--rank') + 1] = '0';
    delete find<IService>(ms, 'Service', 'octoserve-workers').spec!.publishNotReadyAddresses;
    const problems = clusterProblems(ms);
    assertReports(problems, /--advertise .* is not \$\(POD_NAME\)\.octoserve-workers/);
    assertReports(problems, /--rank 0 is not the pod index/);
    assertReports(problems, /needs publishNotReadyAddresses: true/);
  });

  it('a coordinator on localhost, a model outside its volumes, a Redis URL no Service serves', () => {
    const ms = copy();
    const data = find<IConfigMap>(ms, 'ConfigMap', 'octoserve-config').data!;
    data.OCTOSERVE_MODEL = '/model/llama';
    data.OCTOSERVE_REDIS_URL = 'redis://redis:6380';
    const coArgs = podSpec(ms, 'Deployment', 'octoserve-coordinator').containers[0]!.args!;
    coArgs[coArgs.indexOf('--host') + 1] = '127.0.0.1';
    const problems = clusterProblems(ms);
    assertReports(problems, /--host 127\.0\.0\.1: the API must listen on 0\.0\.0\.0/);
    assertReports(problems, /--model \/model\/llama is not under any of its volumeMounts/);
    assertReports(problems, /OCTOSERVE_REDIS_URL redis:\/\/redis:6380 is not a Service port/);
  });

  it('a flag the CLI does not have', () => {
    assertReports(flagProblems('x', 'launch', ['--tp', '8', '--no-such-flag=1'], 'usage: octoserve launch\n  --tp N  ranks\n'), /has no --no-such-flag/);
    assertReports(flagProblems('x', 'launch', ['--tp'], '  --tp-max N\n'), /has no --tp /);
    assertReports(cliProblems([{ at: 'x', command: 'worker', args: ['--rank', '0', '--ranks', '8'] }]), /`octoserve worker` has no --ranks/);
    assertReports(cliProblems([{ at: 'x', command: 'no-such-command', args: [] }]), /`octoserve no-such-command --help` exited 2/);
  });

  it('a unit without Restart, a template without %i, an undefined variable and clashing ports', () => {
    const text = (name: string): string => readFileSync(join(SYSTEMD_DIR, name), 'utf8');
    const coordinator = text('octoserve-coordinator.service').replace(/^Restart=.*$/m, '').replace('${OCTOSERVE_MODEL}', '${OCTOSERVE_MODLE}');
    const problems = unitProblems('octoserve-coordinator.service', parseUnit(coordinator), systemd.env.vars);
    assertReports(problems, /\[Service\] has no Restart/);
    assertReports(problems, /uses \$\{OCTOSERVE_MODLE\}, which octoserve\.env does not define/);
    const worker = text('octoserve-worker@.service').replace('--rank %i', '--rank 0').replace('--collective-port 5020%i', '--collective-port 5010%i');
    assertReports(unitProblems('octoserve-worker@.service', parseUnit(worker), systemd.env.vars), /--rank must be %i/);
    const units = new Map(systemd.units).set('octoserve-worker@.service', parseUnit(worker));
    assertReports(systemdClusterProblems(units, systemd.env.vars), /rank 0 --collective-port: port 50100 is already .*rank 0 --listen/);
  });

  it('units that disagree on the world size or the registry port', () => {
    const coordinator = readFileSync(join(SYSTEMD_DIR, 'octoserve-coordinator.service'), 'utf8').replace('--expect-workers 8', '--expect-workers 4');
    const units = new Map(systemd.units).set('octoserve-coordinator.service', parseUnit(coordinator));
    assertReports(systemdClusterProblems(units, systemd.env.vars), /--expect-workers 4 but workers run with --world 8/);
    const env = new Map(systemd.env.vars).set('OCTOSERVE_COORDINATOR', '127.0.0.1:50051');
    assertReports(systemdClusterProblems(systemd.units, env), /--registry 0\.0\.0\.0:50052 but workers dial OCTOSERVE_COORDINATOR=127\.0\.0\.1:50051/);
  });

  it('a start.sh that does not pass its arguments on', () => {
    const text = readFileSync(START_SH, 'utf8').replace(' "$@"', '');
    assertReports(startScript(text).problems, /does not pass its arguments on/);
  });
});
