import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { textWidth } from '../../scripts/statecharts/font-metrics.js';
import {
  pointToPolyline,
  polylineCrossesRect,
  rectCenter,
  rectToPolyline,
} from '../../scripts/statecharts/geometry.js';
import {
  type BoxGeometry,
  type ChartGeometry,
  layoutChart,
  MIN_FONT_PX,
} from '../../scripts/statecharts/layout.js';
import { walkMachine } from '../../scripts/statecharts/walk.js';
import { generateStatecharts } from '../../scripts/statecharts.js';
import { machineRegistry } from '../../src/machines/index.js';

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
  what: string;
}

const overlaps = (a: Rect, b: Rect) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** The parts of a box that text must not cover: all of a state, a compound's header. */
function solid(box: BoxGeometry): Rect {
  const height = box.kind === 'compound' ? box.headerHeight : box.height;
  return { x: box.x, y: box.y, width: box.width, height, what: `state ${box.id}` };
}

/** A label farther than this from its own edge reads as floating, or as another edge's. */
const LABEL_REACH_PX = 40;

/**
 * Every way a label can be mistaken for another edge's: its box (or its
 * middle) more than LABEL_REACH_PX from its own edge's path, another edge
 * nearer to its middle than its own, or another edge running through it.
 * General over any chart: it reads only the geometry, never label texts.
 */
function labelPlacementProblems(geometry: ChartGeometry): string[] {
  const problems: string[] = [];
  for (const edge of geometry.edges) {
    const label = edge.label;
    if (!label) continue;
    const name = `label "${label.lines.map((l) => l.text).join(' ')}" (${edge.id})`;
    const gap = rectToPolyline(label, edge.points);
    if (gap > LABEL_REACH_PX) problems.push(`${name} is ${gap.toFixed(0)} px from its edge`);
    const middle = rectCenter(label);
    const own = pointToPolyline(edge.points, middle);
    if (own > LABEL_REACH_PX) {
      problems.push(`${name}: its middle is ${own.toFixed(0)} px from its edge`);
    }
    for (const other of geometry.edges) {
      if (other === edge) continue;
      if (polylineCrossesRect(label, other.points)) {
        problems.push(`${name} is crossed by edge ${other.id}`);
      } else if (pointToPolyline(other.points, middle) < own) {
        problems.push(`${name} is nearer to edge ${other.id} than to its own`);
      }
    }
  }
  return problems;
}

describe('label placement check', () => {
  const label = (x: number, y: number) => ({
    x,
    y,
    width: 80,
    height: 20,
    lines: [{ text: 'dial error', size: 10.5 }],
  });
  const chart = (edges: ChartGeometry['edges']): ChartGeometry => ({
    width: 500,
    height: 500,
    boxes: [],
    edges,
  });
  const down = (x: number): Array<[number, number]> => [
    [x, 0],
    [x, 400],
  ];

  it('accepts a label on its own edge', () => {
    const geometry = chart([
      { id: 'a', kind: 'transition', points: down(100), label: label(60, 190) },
    ]);
    expect(labelPlacementProblems(geometry)).toEqual([]);
  });

  it('rejects a label beside a long route, nearer a neighbour, or crossed by one', () => {
    // The picture before labels went on their edges: "dial error" between two parallel routes.
    const far = chart([{ id: 'a', kind: 'transition', points: down(100), label: label(150, 190) }]);
    expect(labelPlacementProblems(far).join('\n')).toMatch(/is 50 px from its edge/);
    const crossed = chart([
      { id: 'a', kind: 'transition', points: down(100), label: label(60, 190) },
      { id: 'b', kind: 'transition', points: down(120) },
    ]);
    expect(labelPlacementProblems(crossed)).toEqual([
      'label "dial error" (a) is crossed by edge b',
    ]);
    // Its own edge stops short above it; another runs just below it.
    const nearer = chart([
      {
        id: 'a',
        kind: 'transition',
        points: [
          [100, 0],
          [100, 170],
        ],
        label: label(60, 190),
      },
      {
        id: 'b',
        kind: 'transition',
        points: [
          [0, 215],
          [400, 215],
        ],
      },
    ]);
    expect(labelPlacementProblems(nearer)).toEqual([
      'label "dial error" (a) is nearer to edge b than to its own',
    ]);
  });
});

describe('statecharts/ generator', () => {
  it('is deterministic and matches the committed files (npm run statecharts)', async () => {
    const first = await generateStatecharts();
    const second = await generateStatecharts();
    expect([...second]).toEqual([...first]);
    for (const [name, content] of first) {
      const committed = readFileSync(join(import.meta.dirname, '../../statecharts', name), 'utf8');
      expect(committed, `statecharts/${name} is stale: run npm run statecharts`).toBe(content);
    }
  });

  for (const entry of machineRegistry) {
    it(`${entry.id}: every transition is in the JSON and the picture has no overlapping text`, async () => {
      const chart = walkMachine(entry.machine);
      const json = JSON.parse((await generateStatecharts()).get(`${entry.id}.json`)!);
      expect(json.transitions).toHaveLength(chart.transitions.length);

      const geometry = await layoutChart(chart);
      const labels: Rect[] = geometry.edges.flatMap((e) =>
        e.label ? [{ ...e.label, what: `label "${e.label.lines[0]?.text}"` }] : [],
      );
      const boxes = geometry.boxes.filter((b) => b.kind !== 'initial').map(solid);
      const clashes: string[] = [];
      for (const [i, a] of labels.entries()) {
        for (const b of [...labels.slice(i + 1), ...boxes]) {
          if (overlaps(a, b)) clashes.push(`${a.what} overlaps ${b.what}`);
        }
      }
      expect(clashes).toEqual([]);
      // Each label sits by its own edge, and no other edge runs through it.
      expect(labelPlacementProblems(geometry)).toEqual([]);
      // Legible at 100 % zoom: no text under 10 px (the inspector never scales below 1).
      const sizes = [
        ...geometry.boxes.flatMap((b) => b.lines),
        ...geometry.edges.flatMap((e) => e.label?.lines ?? []),
      ].map((line) => line.size);
      expect(Math.min(...sizes)).toBeGreaterThanOrEqual(10);
      expect(MIN_FONT_PX).toBe(Math.min(...sizes));
      // Every line of text fits inside its own box (text starts ≤ 12 px in).
      for (const box of geometry.boxes) {
        for (const line of box.lines) {
          const width = textWidth(line.text, line.size, line.bold);
          expect(width + 2 * 10, `"${line.text}" wider than ${box.id}`).toBeLessThanOrEqual(
            box.width + 0.5,
          );
        }
      }
    });
  }
});
