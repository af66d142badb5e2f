// deploy/ checked against itself and against the CLI, without a cluster: every Kubernetes object
// validates against its schema and has no field the schema lacks; names, labels, ports, ConfigMaps
// and volumes refer to objects that exist; the coordinator and the workers agree on the world size
// and on where to meet; the systemd units are complete and agree; and every flag that a manifest,
// a unit or deploy/local/start.sh passes to `octoserve <command>` is listed by its --help.
// Each check (deploy-k8s.ts, deploy-cluster.ts, deploy-systemd.ts, deploy-cli.ts) returns the
// problems it finds. deploy/ must have none, and a broken copy of it must get its problem named
// (the second half of this file).
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { REPO, cliProblems, flagProblems, startScript } from './deploy-cli.js';
import { clusterProblems } from './deploy-cluster.js';
import { containersOf, isRecord, kustomizationProblems, loadManifests, parseManifest, referenceProblems, schemaProblems, toManifest, workloads, yamlFiles } from './deploy-k8s.js';
import type { Json, KObject, Manifest } from './deploy-k8s.js';
import { SYSTEMD_DIR, execInvocation, loadSystemd, parseUnit, systemdClusterProblems, unitProblems } from './deploy-systemd.js';

const K8S_DIR = join(REPO, 'deploy', 'k8s');
const START_SH = join(REPO, 'deploy', 'local', 'start.sh');

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
