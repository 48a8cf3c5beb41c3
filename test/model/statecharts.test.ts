import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { textWidth } from '../../scripts/statecharts/font-metrics.js';
import { type BoxGeometry, layoutChart } from '../../scripts/statecharts/layout.js';
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
