/**
 * Renders laid-out chart geometry (layout.ts) as a standalone SVG: no
 * scripts, no external fonts or images, numbers rounded so the output is
 * byte-identical from run to run.
 *
 * Every state is a `<g class="state" data-state="usingDirect.healthy">` (the
 * dotted path the node reports in PeerStatus.state) and every arrow, leader
 * and label a `<g class="transition" data-source data-target
 * data-transition="source->target">`, so the live inspector
 * (src/daemon/inspector/) can light up the active state and flash the arrow
 * just taken on this very picture. The paths are read back from the geometry
 * (a box sits inside its parent's frame; an arrow ends on its box's border),
 * so layout.ts stays unaware of them.
 */
import { nearestOnPolyline } from './geometry.js';
import type { BoxGeometry, ChartGeometry, EdgeGeometry, TextLine } from './layout.js';
import { FONT } from './layout.js';

const COLORS = {
  ink: '#1f2933',
  muted: '#52606d',
  line: '#3e4c59',
  stateFill: '#f5f7fa',
  stateStroke: '#3e4c59',
  compoundFill: ['#eef4fb', '#e3edf8', '#d8e6f5'],
  compoundStroke: '#7b93ad',
  finalFill: '#fdf1f1',
  labelBg: '#ffffff',
};

const n = (v: number) => (Math.round(v * 10) / 10).toString();

function esc(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

function textBlock(
  lines: readonly TextLine[],
  x: number,
  top: number,
  anchor: 'start' | 'middle',
): string {
  let y = top;
  const out: string[] = [];
  for (const line of lines) {
    const h = line.size * FONT.lineHeight;
    // Baseline at ~78 % of the line box for DejaVu Sans.
    const baseline = y + h * 0.5 + line.size * 0.36;
    const attrs = [
      `x="${n(x)}"`,
      `y="${n(baseline)}"`,
      `font-size="${line.size}"`,
      anchor === 'middle' ? 'text-anchor="middle"' : '',
      line.bold ? 'font-weight="bold"' : '',
      line.muted ? `fill="${COLORS.muted}"` : '',
    ].filter(Boolean);
    out.push(`<text ${attrs.join(' ')}>${esc(line.text)}</text>`);
    y += h;
  }
  return out.join('\n');
}

function drawBox(box: BoxGeometry): string {
  const { x, y, width: w, height: h } = box;
  switch (box.kind) {
    case 'initial':
      return `<circle cx="${n(x + w / 2)}" cy="${n(y + h / 2)}" r="${n(w / 2)}" fill="${COLORS.ink}"/>`;
    case 'any':
      return [
        `<rect x="${n(x)}" y="${n(y)}" width="${n(w)}" height="${n(h)}" rx="${n(box.lines.length > 1 ? 9 : h / 2)}" fill="#ffffff" stroke="${COLORS.muted}" stroke-dasharray="4 3"/>`,
        textBlock(
          box.lines,
          x + w / 2,
          y + (h - box.lines.reduce((sum, line) => sum + line.size * FONT.lineHeight, 0)) / 2,
          'middle',
        ),
      ].join('\n');
    case 'compound': {
      const fill = COLORS.compoundFill[Math.min(box.depth, COLORS.compoundFill.length - 1)];
      const [title, ...details] = box.lines;
      const titleH = title!.size * FONT.lineHeight;
      return [
        `<rect x="${n(x)}" y="${n(y)}" width="${n(w)}" height="${n(h)}" rx="14" fill="${fill}" stroke="${COLORS.compoundStroke}" stroke-width="1.5"/>`,
        textBlock([title!], x + 12, y + 8, 'start'),
        details.length
          ? `<line x1="${n(x)}" y1="${n(y + 8 + titleH + 3)}" x2="${n(x + w)}" y2="${n(y + 8 + titleH + 3)}" stroke="${COLORS.compoundStroke}" stroke-width="0.75"/>`
          : '',
        details.length ? textBlock(details, x + 12, y + 8 + titleH + 7, 'start') : '',
      ]
        .filter(Boolean)
        .join('\n');
    }
    default: {
      const final = box.kind === 'final';
      const [title, ...details] = box.lines;
      const titleH = title!.size * FONT.lineHeight;
      const parts = [
        `<rect x="${n(x)}" y="${n(y)}" width="${n(w)}" height="${n(h)}" rx="9" fill="${final ? COLORS.finalFill : COLORS.stateFill}" stroke="${COLORS.stateStroke}" stroke-width="1.5"/>`,
      ];
      if (final) {
        parts.push(
          `<rect x="${n(x + 3.5)}" y="${n(y + 3.5)}" width="${n(w - 7)}" height="${n(h - 7)}" rx="6" fill="none" stroke="${COLORS.stateStroke}" stroke-width="1"/>`,
        );
      }
      if (details.length === 0) {
        parts.push(textBlock([title!], x + w / 2, y + (h - titleH) / 2, 'middle'));
      } else {
        parts.push(textBlock([title!], x + w / 2, y + 10, 'middle'));
        const sep = y + 10 + titleH + 3;
        parts.push(
          `<line x1="${n(x)}" y1="${n(sep)}" x2="${n(x + w)}" y2="${n(sep)}" stroke="${COLORS.stateStroke}" stroke-width="0.75"/>`,
        );
        parts.push(textBlock(details, x + 10, sep + 4, 'start'));
      }
      return parts.join('\n');
    }
  }
}

function drawEdge(edge: EdgeGeometry): string {
  const points = edge.points.map(([x, y]) => `${n(x)},${n(y)}`).join(' ');
  const parts = [
    `<polyline points="${points}" fill="none" stroke="${COLORS.line}" stroke-width="1.25" marker-end="url(#arrow)"/>`,
  ];
  return parts.join('\n');
}

/** Paths of boxes and ends of arrows, as the inspector names them. */
interface ChartNames {
  /** Box id -> dotted state path ("usingDirect.healthy"), "*" for "any state". */
  state: Map<string, string>;
  /** Edge id -> [source path, target path]; an initial arrow's source is "". */
  ends: Map<string, [string, string]>;
}

const contains = (outer: BoxGeometry, inner: BoxGeometry) =>
  inner.x >= outer.x &&
  inner.y >= outer.y &&
  inner.x + inner.width <= outer.x + outer.width &&
  inner.y + inner.height <= outer.y + outer.height;

/** Distance from a point to a box's border (0 on it), inside or out. */
function borderDistance(box: BoxGeometry, px: number, py: number): number {
  const { x, y, width: w, height: h } = box;
  const inside = px >= x && px <= x + w && py >= y && py <= y + h;
  if (inside) return Math.min(px - x, x + w - px, py - y, y + h - py);
  const dx = Math.max(x - px, 0, px - (x + w));
  const dy = Math.max(y - py, 0, py - (y + h));
  return Math.hypot(dx, dy);
}

function chartNames(geometry: ChartGeometry): ChartNames {
  const state = new Map<string, string>();
  // Boxes come sorted by depth, so a parent is named before its children.
  const frames = geometry.boxes.filter((b) => b.kind === 'compound');
  for (const box of geometry.boxes) {
    if (box.kind === 'initial') continue;
    if (box.kind === 'any') {
      state.set(box.id, '*');
      continue;
    }
    const parent = frames
      .filter((f) => f.depth === box.depth - 1 && f !== box && contains(f, box))
      .at(0);
    const key = box.lines[0]?.text ?? box.id;
    const parentPath = parent ? state.get(parent.id) : undefined;
    state.set(box.id, parentPath ? `${parentPath}.${key}` : key);
  }
  const endAt = ([px, py]: [number, number]): BoxGeometry | undefined => {
    let best: BoxGeometry | undefined;
    let bestD = Number.POSITIVE_INFINITY;
    for (const box of geometry.boxes) {
      const d = borderDistance(box, px, py);
      // Ties go to the deeper box: an arrow ends on the innermost border it touches.
      if (d < bestD - 0.01 || (Math.abs(d - bestD) <= 0.01 && best && box.depth > best.depth)) {
        best = box;
        bestD = d;
      }
    }
    return best;
  };
  const ends = new Map<string, [string, string]>();
  for (const edge of geometry.edges) {
    const from = endAt(edge.points[0]!);
    const to = endAt(edge.points[edge.points.length - 1]!);
    const source = from && from.kind !== 'initial' ? (state.get(from.id) ?? '') : '';
    ends.set(edge.id, [source, to ? (state.get(to.id) ?? '') : '']);
  }
  return { state, ends };
}

function stateGroup(box: BoxGeometry, names: ChartNames): string {
  const path = names.state.get(box.id);
  const body = drawBox(box);
  if (path === undefined) return `<g class="initial">\n${body}\n</g>`;
  return `<g class="state state-${box.kind}" id="state-${esc(path)}" data-state="${esc(path)}">\n${body}\n</g>`;
}

function transitionGroup(
  edge: EdgeGeometry,
  names: ChartNames,
  part: 'edge' | 'leader' | 'label',
  body: string,
): string {
  if (!body) return '';
  const [source, target] = names.ends.get(edge.id) ?? ['', ''];
  const name = `${source || 'initial'}->${target}`;
  const id = part === 'edge' ? ` id="edge-${esc(name)}"` : '';
  return `<g class="transition-${part}"${id} data-transition="${esc(name)}" data-source="${esc(source)}" data-target="${esc(target)}">\n${body}\n</g>`;
}

/**
 * ELK puts a label on its edge; where it cannot (a self-loop, whose label
 * sits beside the loop) a short dotted leader from the label to its own edge
 * removes any doubt.
 */
function drawLeader(edge: EdgeGeometry): string {
  const label = edge.label;
  if (!label || label.lines.length === 0) return '';
  const cx = label.x + label.width / 2;
  const cy = label.y + label.height / 2;
  const [ex, ey] = nearestOnPolyline(edge.points, [cx, cy]);
  const lx = Math.max(label.x, Math.min(label.x + label.width, ex));
  const ly = Math.max(label.y, Math.min(label.y + label.height, ey));
  if (Math.hypot(ex - lx, ey - ly) < 1.5) return '';
  return [
    `<line x1="${n(lx)}" y1="${n(ly)}" x2="${n(ex)}" y2="${n(ey)}" stroke="${COLORS.muted}" stroke-width="0.75" stroke-dasharray="2 2"/>`,
    `<circle cx="${n(ex)}" cy="${n(ey)}" r="2" fill="${COLORS.line}"/>`,
  ].join('\n');
}

function drawLabel(edge: EdgeGeometry): string {
  const label = edge.label;
  if (!label || label.lines.length === 0) return '';
  return [
    `<rect x="${n(label.x - 1)}" y="${n(label.y - 1)}" width="${n(label.width + 2)}" height="${n(label.height + 2)}" rx="3" fill="${COLORS.labelBg}" fill-opacity="0.92"/>`,
    textBlock(label.lines, label.x + label.width / 2, label.y + 1, 'middle'),
  ].join('\n');
}

export function renderSvg(geometry: ChartGeometry, title: string): string {
  const w = Math.ceil(geometry.width);
  const h = Math.ceil(geometry.height);
  const names = chartNames(geometry);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="DejaVu Sans, Verdana, sans-serif" fill="${COLORS.ink}">`,
    `<title>${esc(title)}</title>`,
    '<defs>',
    `<marker id="arrow" viewBox="0 0 10 10" refX="9.5" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="${COLORS.line}"/></marker>`,
    '</defs>',
    `<rect width="${w}" height="${h}" fill="#ffffff"/>`,
    '<g class="states">',
    ...geometry.boxes.map((box) => stateGroup(box, names)),
    '</g>',
    '<g class="transitions">',
    ...geometry.edges.map((e) => transitionGroup(e, names, 'edge', drawEdge(e))),
    '</g>',
    '<g class="leaders">',
    ...geometry.edges
      .map((e) => transitionGroup(e, names, 'leader', drawLeader(e)))
      .filter(Boolean),
    '</g>',
    '<g class="labels">',
    ...geometry.edges.map((e) => transitionGroup(e, names, 'label', drawLabel(e))).filter(Boolean),
    '</g>',
    '</svg>',
    '',
  ].join('\n');
}
