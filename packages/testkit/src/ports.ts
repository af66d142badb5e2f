// Ports for tests that need a peer that is not there.
import { createServer } from 'node:net';

/** A port nothing listens on: bound once on 127.0.0.1, then closed. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('the test server has no port');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}
