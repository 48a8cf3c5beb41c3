import type { NodeStatus, PathFigures, PeerStatus } from '../daemon/node-status.js';
import type { Command } from './command.js';
import { CONTROL_OPTIONS, clientFromOptions, withDaemon } from './control-client.js';

// `switchback status`: what a running node is doing, per peer — a table for
// people, or the control API's NodeStatus as is with --json.

export const statusCommand: Command = {
  name: 'status',
  summary: "Show a running node's relay link and peers (path, state, RTT, ...).",
  description: [
    "Asks a running node's control API what it is doing and prints its key, relay",
    'link (with a list of relays: which one of how many, and the last move between',
    'them), listen address and uptime, then one row per peer: the path in use',
    '(relay, direct, or both while the direct path is suspect; on the relay also why',
    'and since when the direct path was left, and when it is tried next), the chart',
    'state and the reason for the last change, RTT on each path ("stale" when the',
    'path has not answered for a few seconds), loss on the path in use,',
    'when the last handshake completed, state changes so far, and bytes in/out.',
    '--json prints the NodeStatus object instead (see docs/cli.md).',
    'From another machine (controlAllowRemote), set SWITCHBACK_TOKEN to the node token.',
    '',
    'Exit codes: 0 ok, 1 failure, 2 usage error, 3 no daemon answering.',
  ].join('\n'),
  options: [...CONTROL_OPTIONS, { name: 'json', description: 'Print the status as JSON.' }],

  async run(values, io) {
    const client = await clientFromOptions(values, io);
    return withDaemon('status', io, async () => {
      const status = await client.status();
      io.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
      return 0;
    });
  },
};

/** The human form: a header, a blank line, a table of peers. */
export function formatStatus(status: NodeStatus, now = Date.now()): string {
  const { relay: link } = status;
  // With a list, which of how many: "ws://r2:7300 (2/3)".
  const where =
    link.relays.length > 1 ? `${link.url} (${link.index + 1}/${link.relays.length})` : link.url;
  const relay = [where, link.state];
  if (link.reason) relay.push(`(${link.reason})`);
  if (link.observed) relay.push(`seen as ${link.observed}`);
  const moved = link.lastSwitch
    ? [
        [
          'moved',
          `from ${link.lastSwitch.from} (${link.lastSwitch.reason}) ${age(now - link.lastSwitch.at)} ago, ${link.switches} move${link.switches === 1 ? '' : 's'} so far`,
        ],
      ]
    : [];
  const header = [
    ['node', status.publicKey],
    ['relay', relay.join('  ')],
    ...moved,
    ['listen', status.listen ?? 'not listening'],
    ['device', `${status.device.name} (${status.device.kind}, mtu ${status.device.mtu})`],
    ['uptime', duration(status.uptime)],
  ].map(([label, value]) => `${label!.padEnd(8)}${value}`);
  if (status.peers.length === 0) return `${[...header, '', 'no peers configured'].join('\n')}\n`;
  return `${[...header, '', ...table(status.peers.map((peer) => peerRow(peer, now)))].join('\n')}\n`;
}

const COLUMNS = [
  'NAME',
  'PATH',
  'STATE',
  'REASON',
  'RTT DIRECT/RELAY',
  'LOSS',
  'HANDSHAKE',
  'TRANSITIONS',
  'BYTES IN/OUT',
] as const;

function peerRow(peer: PeerStatus, now: number): string[] {
  const { direct, relay } = peer.paths;
  // Loss of the path the frames take (while suspect, the direct one is in question).
  const lossPath = peer.path === 'relay' ? relay : direct;
  const bytesIn = direct.bytesReceived + relay.bytesReceived;
  const bytesOut = direct.bytesSent + relay.bytesSent;
  // Not paired by the relay: the peer is not connected (or does not list us).
  // Its last RTT and loss are history, not a reading: do not show them as one.
  const offline = !peer.paired;
  return [
    peer.name,
    offline ? 'offline' : pathCell(peer, now),
    peer.state,
    peer.reason,
    offline ? '-' : `${rtt(direct)}/${rtt(relay)}`,
    offline ? '-' : percent(lossPath.loss),
    peer.lastHandshake === null ? 'never' : `${age(now - peer.lastHandshake)} ago`,
    String(peer.transitions),
    `${bytes(bytesIn)}/${bytes(bytesOut)}`,
  ];
}

/**
 * The path, and on the relay why and for how long, and what comes next:
 * "relay 12s (HEARTBEAT_TIMEOUT), next try in 8s". The chart's latest reason
 * (RETRY, DIAL_TIMEOUT…) is in REASON; this keeps the fallback's own.
 */
export function pathCell(peer: PeerStatus, now: number): string {
  if (peer.path !== 'relay') return peer.idle ? `${peer.path}, idle` : peer.path;
  const parts = ['relay'];
  if (peer.lastFallback)
    parts.push(`${age(now - peer.lastFallback.at)} (${peer.lastFallback.reason})`);
  let cell = parts.join(' ');
  if (peer.state.startsWith('attemptingDirect')) cell += ', trying direct';
  else if (peer.nextAttemptAt !== null) cell += `, next try in ${age(peer.nextAttemptAt - now)}`;
  return cell;
}

function table(rows: string[][]): string[] {
  const all = [[...COLUMNS], ...rows];
  const widths = COLUMNS.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  return all.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]! + 2)))
      .join(''),
  );
}

/** 0%, 1.5%, 25%: one decimal below 10%, where it matters. */
function percent(share: number | null): string {
  if (share === null) return '-';
  const value = share * 100;
  if (value === 0) return '0%';
  return `${value < 10 ? value.toFixed(1) : Math.round(value)}%`;
}

function rtt(figures: PathFigures): string {
  if (figures.rttMs === null) return figures.stale ? 'stale' : '-';
  return `${figures.rttMs < 10 ? figures.rttMs.toFixed(2) : figures.rttMs.toFixed(1)}ms`;
}

/** 12s, 3m, 2h, 4d: the largest unit, rounded down. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** 45s, 3m 12s, 2h 05m, 4d 03h. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d ${two(Math.floor(s / 3600) % 24)}h`;
}

/** 512B, 1.5KiB, 20MiB, 3.2GiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value}B`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)}${units[unit]}`;
}
