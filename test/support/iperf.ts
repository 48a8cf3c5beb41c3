/**
 * One bounded iperf3 TCP run between two namespaces that the test created.
 *
 * The server stays up for every attempt (not one-shot `-1`): a first attempt
 * refused while the server starts, or one that ends in an error under load,
 * would otherwise leave nothing to retry against. A run counts only when its
 * JSON carries totals: iperf3 can exit 0 with `"error"` set and `end: {}`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { execIn, spawnIn, stopProcess } from './netns.js';

export interface IperfTcpReport {
  end: {
    sum_sent: { bytes: number; bits_per_second: number; retransmits?: number };
    sum_received: { bytes: number; bits_per_second: number; seconds: number };
  };
}

export interface IperfTcpOptions {
  /** Namespace of the client and the server. */
  clientNs: string;
  serverNs: string;
  /** Address the server binds and the client dials (inside serverNs). */
  serverAddress: string;
  port?: number;
  seconds?: number;
  /** Attempts before giving up; each bounded by its own timeout. */
  attempts?: number;
}

/** Runs iperf3 -c until one run reports totals; throws naming the last failure. */
export async function iperfTcp(options: IperfTcpOptions): Promise<IperfTcpReport> {
  const port = String(options.port ?? 5201);
  const seconds = options.seconds ?? 2;
  const attempts = options.attempts ?? 6;
  const server = spawnIn(options.serverNs, 'iperf3', [
    '-s',
    '-B',
    options.serverAddress,
    '-p',
    port,
  ]);
  let last = 'no attempt ran';
  try {
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep(300);
      const run = await execIn(
        options.clientNs,
        'iperf3',
        [
          '-c',
          options.serverAddress,
          '-p',
          port,
          '-t',
          String(seconds),
          '-J',
          '--connect-timeout',
          '2000',
        ],
        { timeoutMs: (seconds + 15) * 1_000 },
      );
      const report = parseReport(run.stdout);
      if (run.code === 0 && report) return report;
      last = `exit ${run.code}: ${errorOf(run.stdout) ?? run.stderr.trim()}`;
    }
  } finally {
    await stopProcess(server, { graceMs: 2_000 });
  }
  throw new Error(
    `iperf3 to ${options.serverAddress}: no complete run in ${attempts} attempts (${last})`,
  );
}

function parseReport(stdout: string): IperfTcpReport | undefined {
  try {
    const doc = JSON.parse(stdout) as Partial<IperfTcpReport> & { error?: string };
    return doc.error === undefined && doc.end?.sum_received && doc.end.sum_sent
      ? (doc as IperfTcpReport)
      : undefined;
  } catch {
    return undefined;
  }
}

function errorOf(stdout: string): string | undefined {
  try {
    return (JSON.parse(stdout) as { error?: string }).error;
  } catch {
    return undefined;
  }
}
