/**
 * The demo's terminal view. On a terminal it keeps a small block at the
 * bottom — phase, progress bar, one row per node — and redraws it in place
 * with ANSI cursor moves, while notes, phase changes and transitions scroll
 * above it. Anywhere else (CI logs, pipes, `--json` on stderr) it writes
 * plain lines: one per note, phase change and transition, and, unless
 * `progressLines` is off, one progress line a second.
 */
import type { Writable } from 'node:stream';
import type { NodeName } from '../../testing/loopback-cluster.js';
import type { DemoTransition } from './demo-summary.js';
import type { DemoPhase, DemoView, LiveNode, LiveSnapshot } from './run-demo.js';

export interface LiveViewOptions {
  out: Writable & { columns?: number };
  /** Redraw in place (stdout is a terminal). */
  tty: boolean;
  /** Bold phase lines (terminal without NO_COLOR). */
  color?: boolean;
  /** Plain mode: one progress line a second (default true). */
  progressLines?: boolean;
}

const REDRAW_MS = 200;
const PROGRESS_LINE_MS = 1_000;
const BAR_WIDTH = 30;

const ESC = '\x1b[';
const CLEAR_LINE = `${ESC}2K`;
const CLEAR_DOWN = `${ESC}J`;
const up = (lines: number) => (lines > 0 ? `${ESC}${lines}F` : '\r');

export function createLiveView(options: LiveViewOptions): DemoView {
  return options.tty ? new TerminalView(options) : new PlainView(options);
}

/** "t+3.48s" */
export function stamp(ms: number): string {
  return `t+${(ms / 1000).toFixed(2)}s`;
}

export function transitionLine(t: DemoTransition): string {
  const chart = t.machine === 'relayLink' ? 'relay link ' : '';
  return `${stamp(t.atMs).padEnd(9)}  ${t.node}  ${chart}${t.from} → ${t.to}  (${t.reason})`;
}

export function phaseLine(phase: DemoPhase): string {
  return `phase ${phase.index}/${phase.total}: ${phase.title}`;
}

const ms = (value: number | null) => (value === null ? '-' : `${value.toFixed(2)}ms`);

const NODE_COLUMNS = [
  'node',
  'state',
  'path',
  'reason',
  'rtt direct',
  'rtt relay',
  'rx frames/s',
  'delivered',
  'lost',
];
const WIDTHS = [4, 30, 6, 18, 10, 10, 11, 9, 6];

function row(cells: string[]): string {
  return cells
    .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(WIDTHS[i] ?? 0)))
    .join('  ');
}

function nodeRow(name: NodeName, node: LiveNode): string {
  return row([
    name,
    node.state,
    node.path,
    node.reason,
    ms(node.rttDirectMs),
    ms(node.rttRelayMs),
    String(node.rxFramesPerS),
    String(node.delivered),
    String(node.lost),
  ]);
}

function progress(snapshot: LiveSnapshot): string {
  const share = Math.min(1, snapshot.elapsedMs / Math.max(1, snapshot.plannedMs));
  const filled = Math.round(share * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${stamp(snapshot.elapsedMs)} of ~${Math.round(snapshot.plannedMs / 1000)}s`;
}

class TerminalView implements DemoView {
  readonly #out: LiveViewOptions['out'];
  readonly #color: boolean;
  #live: (() => LiveSnapshot) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Lines of the block drawn last, so the next draw can go back over them. */
  #drawn = 0;

  constructor(options: LiveViewOptions) {
    this.#out = options.out;
    this.#color = options.color ?? false;
  }

  start(live: () => LiveSnapshot): void {
    this.#live = live;
    this.#timer = setInterval(() => this.#redraw(), REDRAW_MS);
    this.#redraw();
  }

  note(text: string): void {
    this.#above(text);
  }

  phase(phase: DemoPhase): void {
    const line = `── ${phaseLine(phase)}`;
    this.#above(this.#color ? `${ESC}1m${line}${ESC}0m` : line);
  }

  transition(t: DemoTransition): void {
    this.#above(`   ${transitionLine(t)}`);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    // Leave the last block on screen as the final picture before the summary.
    this.#redraw();
    this.#drawn = 0;
    this.#live = undefined;
  }

  #block(): string[] {
    if (!this.#live) return [];
    let snapshot: LiveSnapshot;
    try {
      snapshot = this.#live();
    } catch {
      return []; // the cluster is closing
    }
    return [
      '',
      `${phaseLine(snapshot.phase)}`,
      progress(snapshot),
      row(NODE_COLUMNS),
      nodeRow('a', snapshot.nodes.a),
      nodeRow('b', snapshot.nodes.b),
    ];
  }

  #fit(line: string): string {
    const columns = this.#out.columns;
    return columns && line.length > columns ? line.slice(0, columns - 1) : line;
  }

  /** Go back over the block, print `text`, draw the block again: one write, no flicker. */
  #above(text: string): void {
    const block = this.#block();
    this.#out.write(
      `${up(this.#drawn)}${CLEAR_DOWN}${text}\n${block.map((l) => `${CLEAR_LINE}${this.#fit(l)}\n`).join('')}`,
    );
    this.#drawn = block.length;
  }

  #redraw(): void {
    const block = this.#block();
    if (block.length === 0 && this.#drawn === 0) return;
    this.#out.write(
      `${up(this.#drawn)}${block.map((l) => `${CLEAR_LINE}${this.#fit(l)}\n`).join('')}${CLEAR_DOWN}`,
    );
    this.#drawn = block.length;
  }
}

class PlainView implements DemoView {
  readonly #out: Writable;
  readonly #progressLines: boolean;
  #live: (() => LiveSnapshot) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: LiveViewOptions) {
    this.#out = options.out;
    this.#progressLines = options.progressLines ?? true;
  }

  start(live: () => LiveSnapshot): void {
    this.#live = live;
    if (this.#progressLines) this.#timer = setInterval(() => this.#progress(), PROGRESS_LINE_MS);
  }

  note(text: string): void {
    this.#out.write(`${text}\n`);
  }

  phase(phase: DemoPhase): void {
    const at = this.#live ? `${stamp(this.#live().elapsedMs)}  ` : '';
    this.#out.write(`${at}${phaseLine(phase)}\n`);
  }

  transition(t: DemoTransition): void {
    this.#out.write(`${transitionLine(t)}\n`);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#live = undefined;
  }

  #progress(): void {
    if (!this.#live) return;
    let snapshot: LiveSnapshot;
    try {
      snapshot = this.#live();
    } catch {
      return;
    }
    const node = (name: NodeName) => {
      const n = snapshot.nodes[name];
      return `${name} ${n.state} via ${n.path}, rtt direct/relay ${ms(n.rttDirectMs)}/${ms(n.rttRelayMs)}, rx ${n.rxFramesPerS}/s, delivered ${n.delivered}, lost ${n.lost}`;
    };
    this.#out.write(
      `${stamp(snapshot.elapsedMs)}  [${snapshot.phase.index}/${snapshot.phase.total}]  ${node('a')} | ${node('b')}\n`,
    );
  }
}
