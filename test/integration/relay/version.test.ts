// Version 2 meets version 1 (docs/protocol.md §13), at the relay: each side
// fails with one line naming both versions, and the hello carries capability
// sets both ways.
import { once } from 'node:events';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { generateIdentity } from '../../../src/crypto/identity.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { LOCAL_RELAY_CAPABILITIES } from '../../../src/protocol/capabilities.js';
import { RelayClient } from '../../../src/relay/client.js';
import { RelayError } from '../../../src/relay/errors.js';
import { peerIdOf } from '../../../src/relay/peer-directory.js';
import type { RelayConnection } from '../../../src/relay/relay-connection.js';
import { startRelay, type TestRelay } from './helpers.js';

let relay: TestRelay | undefined;
let fake: WebSocketServer | undefined;
beforeAll(async () => {
  await sodiumReady();
});
afterEach(async () => {
  await relay?.server.close();
  relay = undefined;
  if (fake) {
    for (const client of fake.clients) client.terminate();
    await new Promise((resolve) => fake!.close(resolve));
    fake = undefined;
  }
});

async function refusal(promise: Promise<unknown>): Promise<RelayError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RelayError);
    return error as RelayError;
  }
  throw new Error('connect succeeded');
}

describe('relay protocol versions', () => {
  it('a v1 relay refuses our v2 HELLO as a bad frame: the node says so in one line', async () => {
    // What a version 1 relay does with any frame whose byte 0 is not 1
    // (src/relay/relay-connection.ts at v1): close 4000 "bad frame".
    fake = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(fake, 'listening');
    fake.on('connection', (ws) =>
      ws.on('message', (data: Buffer) => {
        if (data[0] !== 1) ws.close(4000, 'bad frame');
      }),
    );
    const { port } = fake.address() as { port: number };
    const error = await refusal(
      RelayClient.connect(`ws://127.0.0.1:${port}`, await generateIdentity(), { timeoutMs: 3_000 }),
    );
    expect(error.code).toBe('VERSION_MISMATCH');
    expect(error.message).toBe(
      'relay speaks switchback protocol v1, this node speaks v2; upgrade the relay',
    );
  });

  it('a relay that refuses our version (4014) is reported as VERSION_MISMATCH with its reason', async () => {
    fake = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(fake, 'listening');
    fake.on('connection', (ws) =>
      ws.on('message', () =>
        ws.close(4014, 'relay speaks switchback protocol v3; upgrade the node'),
      ),
    );
    const { port } = fake.address() as { port: number };
    const error = await refusal(
      RelayClient.connect(`ws://127.0.0.1:${port}`, await generateIdentity(), { timeoutMs: 3_000 }),
    );
    expect(error.code).toBe('VERSION_MISMATCH');
    expect(error.message).toContain('v2');
    expect(error.message).toContain('relay speaks switchback protocol v3; upgrade the node');
  });

  it('a bad frame later in the hello is not mistaken for a version mismatch', async () => {
    fake = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(fake, 'listening');
    // A CHALLENGE first, then 4000: a v2 relay refusing something else.
    fake.on('connection', (ws) =>
      ws.once('message', () => {
        ws.send(new Uint8Array([2, 0x02, ...new Uint8Array(68)]));
        ws.once('message', () => ws.close(4000, 'bad frame'));
      }),
    );
    const { port } = fake.address() as { port: number };
    const error = await refusal(
      RelayClient.connect(`ws://127.0.0.1:${port}`, await generateIdentity(), { timeoutMs: 3_000 }),
    );
    expect(error.code).toBe('AUTH_REJECTED');
  });

  it('the hello carries capability sets both ways; unknown flags negotiate to nothing', async () => {
    relay = await startRelay();
    const identity = await generateIdentity();
    const client = await RelayClient.connect(relay.url, identity, {
      timeoutMs: 5_000,
      capabilities: 0x8000_0001, // flags this relay does not know
    });
    expect(client.relayCapabilities).toBe(LOCAL_RELAY_CAPABILITIES);
    expect(client.capabilities).toBe(0);
    const connection = relay.server.directory.lookup(peerIdOf(identity.publicKey)) as
      | RelayConnection
      | undefined;
    expect(connection?.clientCapabilities).toBe(0x8000_0001);
    expect(connection?.capabilities).toBe(0);
    await client.close();
  });
});
