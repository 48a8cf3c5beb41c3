/**
 * How good a path is, from authenticated ping/pong probes, and whether the
 * direct path is clearly worse than the relay for long enough to leave it.
 *
 * RTT and jitter follow TCP's estimator (RFC 6298 §2): srtt ← 7/8·srtt + 1/8·r,
 * rttvar ← 3/4·rttvar + 1/4·|srtt − r|. Loss is the share of the last
 * `lossWindow` probes that got no pong within `probeTimeoutMs`.
 */

export interface QualityPolicy {
  /** Direct is poor when its srtt exceeds relay srtt · rttRatio + rttMarginMs … */
  rttRatio: number;
  rttMarginMs: number;
  /** … or its loss exceeds the relay's by this share (0..1) … */
  lossMargin: number;
  /** … continuously for this long (hysteresis against one bad moment). */
  windowMs: number;
  /** No judgement before this many answered probes on each path. */
  minSamples: number;
  /** A probe unanswered this long counts as lost. */
  probeTimeoutMs: number;
  /** Loss is measured over this many recent probes. */
  lossWindow: number;
}

export const defaultQualityPolicy: QualityPolicy = {
  // The relay adds a hop; only leave direct when it is clearly the slower one.
  rttRatio: 1.5,
  rttMarginMs: 20,
  lossMargin: 0.1,
  windowMs: 5_000,
  minSamples: 5,
  probeTimeoutMs: 1_000,
  lossWindow: 20,
};

export class PathStats {
  /** Smoothed RTT in ms; undefined before the first answer. */
  srttMs: number | undefined;
  /** RTT variation (jitter) in ms. */
  rttvarMs = 0;
  /** Answered probes ever. */
  samples = 0;
  /** Probes sent and answered ever (for metrics). */
  sent = 0;
  answered = 0;
  /** When the last probe was answered (performance.now() ms); undefined before the first. */
  lastAnsweredAt: number | undefined;

  readonly #outstanding = new Map<number, number>();
  /** Recent outcomes, true = lost; a ring of `lossWindow`. */
  readonly #outcomes: boolean[] = [];
  readonly #policy: Pick<QualityPolicy, 'probeTimeoutMs' | 'lossWindow'>;

  constructor(policy: Pick<QualityPolicy, 'probeTimeoutMs' | 'lossWindow'> = defaultQualityPolicy) {
    this.#policy = policy;
  }

  probeSent(id: number, nowMs: number): void {
    this.sent++;
    this.#outstanding.set(id, nowMs);
  }

  /** Returns the RTT sample, or undefined for an unknown or expired probe. */
  pongReceived(id: number, nowMs: number): number | undefined {
    const sentAt = this.#outstanding.get(id);
    if (sentAt === undefined) return undefined;
    this.#outstanding.delete(id);
    const rtt = Math.max(0, nowMs - sentAt);
    this.answered++;
    this.samples++;
    this.lastAnsweredAt = nowMs;
    this.#record(false);
    if (this.srttMs === undefined) {
      this.srttMs = rtt;
      this.rttvarMs = rtt / 2;
    } else {
      this.rttvarMs = 0.75 * this.rttvarMs + 0.25 * Math.abs(this.srttMs - rtt);
      this.srttMs = 0.875 * this.srttMs + 0.125 * rtt;
    }
    return rtt;
  }

  /** Count probes older than probeTimeoutMs as lost. Call before judging. */
  expire(nowMs: number): void {
    for (const [id, sentAt] of this.#outstanding) {
      if (nowMs - sentAt >= this.#policy.probeTimeoutMs) {
        this.#outstanding.delete(id);
        this.#record(true);
      }
    }
  }

  /** Share of recent probes lost, 0..1. */
  get loss(): number {
    if (this.#outcomes.length === 0) return 0;
    let lost = 0;
    for (const outcome of this.#outcomes) if (outcome) lost++;
    return lost / this.#outcomes.length;
  }

  #record(lost: boolean): void {
    this.#outcomes.push(lost);
    if (this.#outcomes.length > this.#policy.lossWindow) this.#outcomes.shift();
  }
}

/** Says "poor" only when the direct path has been worse than the relay for windowMs. */
export class QualityJudge {
  #badSince: number | undefined;
  readonly #policy: QualityPolicy;

  constructor(policy: QualityPolicy = defaultQualityPolicy) {
    this.#policy = policy;
  }

  /** Whether the direct path is worse than the relay right now (no hysteresis). */
  worse(direct: PathStats, relay: PathStats): boolean {
    const p = this.#policy;
    if (direct.samples < p.minSamples || relay.samples < p.minSamples) return false;
    const slower = direct.srttMs! > relay.srttMs! * p.rttRatio + p.rttMarginMs;
    const lossier = direct.loss > relay.loss + p.lossMargin;
    return slower || lossier;
  }

  /** True once the direct path has been continuously worse for windowMs. */
  update(nowMs: number, direct: PathStats, relay: PathStats): boolean {
    if (!this.worse(direct, relay)) {
      this.#badSince = undefined;
      return false;
    }
    this.#badSince ??= nowMs;
    return nowMs - this.#badSince >= this.#policy.windowMs;
  }

  reset(): void {
    this.#badSince = undefined;
  }
}
