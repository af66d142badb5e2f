// deploy/k8s's coordinator and workers agree: world size, where they meet, ports, GPUs, names, queue.
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IService } from 'kubernetes-models/v1/Service';
import { TP, flag, hostPort } from './deploy-cli.js';
import { containersOf, environment, expand, lookup, podLabels, resolvePort, selects, workloads } from './deploy-k8s.js';
import type { Manifest, Workload } from './deploy-k8s.js';

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

export function clusterProblems(ms: readonly Manifest[]): string[] {
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
