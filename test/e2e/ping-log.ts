/**
 * Reads the output of iputils `ping -D` (a timestamp before every line) and
 * says what a user of the VPN saw: which echo requests got no reply, which
 * replies came out of order, and the longest silence between two replies.
 *
 *   [1764100000.123456] 64 bytes from 10.232.0.2: icmp_seq=17 ttl=64 time=0.61 ms
 *   [1764100000.173456] 64 bytes from 10.232.0.2: icmp_seq=18 ttl=64 time=0.58 ms (DUP!)
 */

export interface PingReply {
  /** Arrival time, seconds since the epoch (ping's own clock, as Date.now()/1000). */
  at: number;
  seq: number;
  rttMs: number;
  duplicate: boolean;
}

export interface PingSummary {
  replies: PingReply[];
  /** Echo requests from the first to the last answered sequence number. */
  sent: number;
  /** Sequence numbers in that range never answered. */
  lost: number[];
  /** Replies that arrived after a reply with a higher sequence number. */
  reordered: number;
  /** Replies ping marked "(DUP!)". */
  duplicates: number;
}

export interface Silence {
  /** Seconds since the epoch: the last reply before the silence. */
  from: number;
  to: number;
  ms: number;
}

const REPLY =
  /^\[(\d+\.\d+)\] \d+ bytes from [^:]+: icmp_seq=(\d+) ttl=\d+ time=([\d.]+) ms( \(DUP!\))?/;

export function parsePingLog(text: string): PingSummary {
  const replies: PingReply[] = [];
  for (const line of text.split('\n')) {
    const match = REPLY.exec(line);
    if (!match) continue;
    replies.push({
      at: Number(match[1]),
      seq: Number(match[2]),
      rttMs: Number(match[3]),
      duplicate: match[4] !== undefined,
    });
  }
  const seen = new Set<number>();
  let highest = -1;
  let reordered = 0;
  let duplicates = 0;
  for (const reply of replies) {
    if (reply.duplicate) {
      duplicates++;
      continue;
    }
    if (reply.seq < highest) reordered++;
    highest = Math.max(highest, reply.seq);
    seen.add(reply.seq);
  }
  if (seen.size === 0) return { replies, sent: 0, lost: [], reordered, duplicates };
  const first = Math.min(...seen);
  const last = Math.max(...seen);
  const lost: number[] = [];
  for (let seq = first; seq <= last; seq++) if (!seen.has(seq)) lost.push(seq);
  return { replies, sent: last - first + 1, lost, reordered, duplicates };
}

/** The longest gap between consecutive replies arriving within [from, to] (epoch seconds). */
export function longestSilence(replies: readonly PingReply[], from: number, to: number): Silence {
  let best: Silence = { from, to: from, ms: 0 };
  const inWindow = replies.filter((reply) => reply.at >= from && reply.at <= to);
  for (let i = 1; i < inWindow.length; i++) {
    const ms = (inWindow[i]!.at - inWindow[i - 1]!.at) * 1000;
    if (ms > best.ms) best = { from: inWindow[i - 1]!.at, to: inWindow[i]!.at, ms };
  }
  return best;
}
