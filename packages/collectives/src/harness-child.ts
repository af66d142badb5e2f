// The process entry of one harness rank (see harness.ts): bind, report the
// address, wait for the address list, run the scenario, report, exit.
import { Communicator } from './communicator.js';
import type { CommunicatorOptions } from './communicator-options.js';
import { CollectiveError, describeError } from './errors.js';
import type { RankContext, Scenario } from './harness.js';
import { Endpoint } from './transport.js';

interface StartMessage { type: 'start'; rank: number; peers: string[]; communicatorId: string; args: unknown }

function send(message: unknown): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) { resolve(); return; }
    process.send(message, undefined, {}, () => resolve());
  });
}

async function main(): Promise<void> {
  const [moduleUrl, scenarioName] = process.argv.slice(2);
  if (moduleUrl === undefined || scenarioName === undefined) throw new Error('usage: harness-child <module-url> <scenario>');
  const endpoint = await Endpoint.bind('127.0.0.1:0');
  const start = new Promise<StartMessage>((resolve) => {
    process.on('message', (m: StartMessage) => { if (m.type === 'start') resolve(m); });
  });
  await send({ type: 'bound', address: endpoint.address });
  const { rank, peers, communicatorId, args } = await start;
  const mod = (await import(moduleUrl)) as Record<string, unknown>;
  const scenario = mod[scenarioName];
  if (typeof scenario !== 'function') throw new Error(`${moduleUrl} exports no function '${scenarioName}'`);
  const ctx: RankContext = {
    rank,
    worldSize: peers.length,
    peers,
    endpoint,
    communicatorId,
    args,
    connect: (options?: Partial<CommunicatorOptions>) => Communicator.create({
      rank, worldSize: peers.length, peers, communicatorId, endpoint, ...options,
    }),
    signal: (payload: unknown) => { void send({ type: 'signal', payload }); },
  };
  // Stay alive until every rank has reported: a rank that exits at once would
  // break its peers' streams and blur what they report (they are told at 'exit').
  const released = new Promise<void>((resolve) => {
    process.on('message', (m: { type: string }) => { if (m.type === 'exit') resolve(); });
    process.on('disconnect', () => resolve());
  });
  try {
    const value = await (scenario as Scenario)(ctx);
    await send({ type: 'result', ok: true, value });
  } catch (err) {
    await send({ type: 'result', ok: false, error: { message: describeError(err), code: err instanceof CollectiveError ? err.code : undefined } });
  }
  await released;
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`harness rank failed: ${describeError(err)}\n`);
  process.exit(1);
});
