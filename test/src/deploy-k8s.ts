// deploy/k8s: loading its manifests, checking them against their schemas, and their references.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { REPO } from './deploy-cli.js';

export type Json = Record<string, unknown>;
/** A Kubernetes object as parsed, to be read through kubernetes-models' types once validated. */
export type KObject = Json & { apiVersion: string; kind: string };
export const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// Kubernetes: loading and schemas
// ---------------------------------------------------------------------------------------------

/** One object of a manifest; `at` names its file and the object for messages. */
export interface Manifest {
  at: string;
  kind: string;
  name: string;
  namespace: string | undefined;
  obj: KObject;
}

export interface Parsed {
  docs: { at: string; body: unknown }[];
  problems: string[];
}

/** The objects in every .yaml under `dir` except kustomization.yaml, and what would not parse. */
export function loadManifests(dir: string): Parsed {
  const parsed = yamlFiles(dir).filter((f) => f !== 'kustomization.yaml')
    .map((f) => parseManifest(relative(REPO, join(dir, f)), readFileSync(join(dir, f), 'utf8')));
  return { docs: parsed.flatMap((p) => p.docs), problems: parsed.flatMap((p) => p.problems) };
}

/** The documents of one file, read as YAML 1.1 as Kubernetes does (an unquoted `yes` is true). */
export function parseManifest(rel: string, text: string): Parsed {
  const out: Parsed = { docs: [], problems: [] };
  parseAllDocuments(text, { version: '1.1' }).forEach((doc, i) => {
    for (const err of doc.errors) out.problems.push(`${rel} document ${i + 1}: ${err.message}`);
    const body: unknown = doc.toJS();
    if (body !== null && doc.errors.length === 0) out.docs.push({ at: `${rel} document ${i + 1}`, body });
  });
  return out;
}

export const yamlFiles = (dir: string): string[] => readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();

export function toManifest(at: string, obj: KObject): Manifest {
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
export async function schemaProblems(at: string, body: unknown): Promise<string[]> {
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
export function kustomizationProblems(files: readonly string[], kustomization: unknown): string[] {
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

export interface Workload {
  m: Manifest;
  replicas: number;
  pod: IPodTemplateSpec;
  selector: Record<string, string>;
  serviceName?: string;
}

const CLUSTER_SCOPED = new Set(['Namespace', 'PersistentVolume', 'StorageClass', 'ClusterRole', 'ClusterRoleBinding']);

export function workloads(ms: readonly Manifest[]): Workload[] {
  return ms.flatMap((m): Workload[] => {
    if (m.kind !== 'Deployment' && m.kind !== 'StatefulSet') return [];
    const spec = (m.obj as IStatefulSet).spec; // a Deployment's spec has the same fields, less serviceName
    return [{
      m, replicas: spec?.replicas ?? 1, pod: spec?.template ?? {}, selector: spec?.selector.matchLabels ?? {},
      ...(m.kind === 'StatefulSet' ? { serviceName: spec?.serviceName } : {}),
    }];
  });
}

export const podLabels = (w: Workload): Record<string, string> => w.pod.metadata?.labels ?? {};
export const containersOf = (w: Workload): IContainer[] => w.pod.spec?.containers ?? [];
export const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The object of `kind` called `name` in `namespace`. */
export function lookup(ms: readonly Manifest[], kind: string, name: string | undefined, namespace: string | undefined): Manifest | undefined {
  return ms.find((m) => m.kind === kind && m.name === name && m.namespace === namespace);
}

/** The containerPort a Service or probe port (a name or a number) means, among `containers`. */
export function resolvePort(containers: readonly IContainer[], port: number | string | undefined): number | undefined {
  for (const c of containers) {
    for (const p of c.ports ?? []) if (p.name === port || p.containerPort === port) return p.containerPort;
  }
  return undefined;
}

/**
 * A container's environment as Kubernetes builds it: envFrom ConfigMaps, then env. A value set
 * from the downward API is kept as its field path, known only once the pod runs.
 */
export function environment(ms: readonly Manifest[], c: IContainer, namespace: string | undefined): Map<string, string | { fieldPath: string }> {
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
export function expand(arg: string, env: ReadonlyMap<string, string | { fieldPath: string }>): string {
  return arg.replace(VAR_REF, (ref, name: string) => {
    const v = env.get(name);
    return typeof v === 'string' ? v : ref;
  });
}

/** Names, labels, ports, ConfigMaps, volumes and namespaces that the objects refer to exist. */
export function referenceProblems(ms: readonly Manifest[]): string[] {
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
