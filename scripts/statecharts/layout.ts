/**
 * Lays a chart out with ELK's layered algorithm (elkjs, offline, deterministic)
 * and returns plain geometry for svg.ts. Every coordinate is absolute
 * (`elk.json.shapeCoords` / `edgeCoords` = ROOT).
 *
 * Notation (UML state machines):
 *   - a state is a rounded box: name, then its invoked actor, entry/exit
 *     actions, internal transitions (targetless, so no exit/re-entry) and
 *     transitions back into itself ("↺", which exit and re-enter it: a loop
 *     drawn outside would be too small to carry its label);
 *   - a compound state is a rounded frame with its name at the top;
 *   - a filled dot marks the initial child; a final state has a double border;
 *   - transitions declared on the machine itself (e.g. STOP) start at an
 *     "any state" pseudo-state, which is what they mean.
 */
import ElkModule from 'elkjs/lib/elk.bundled.js';
import { textWidth } from './font-metrics.js';
import type { ChartModel, ChartState, ChartTransition } from './walk.js';
import { transitionLabel } from './walk.js';

/**
 * Text sizes in px at scale 1. Nothing is below 10 px, so the picture is
 * legible at 100 % zoom (the inspector never draws it smaller than that).
 */
export const FONT = {
  title: 13,
  detail: 10.5,
  label: 10.5,
  action: 10,
  lineHeight: 1.35,
};

/** The smallest text size the picture uses: the inspector's lower bound for scaling. */
export const MIN_FONT_PX = Math.min(FONT.title, FONT.detail, FONT.label, FONT.action);

const PAD = 10; // inside a box, around text
const DETAIL_WRAP = 300; // px before a detail line wraps
const LABEL_WRAP = 190; // px before an edge label wraps
export const ANY_STATE = '__any__';

export interface TextLine {
  text: string;
  size: number;
  bold?: boolean;
  muted?: boolean;
}

export interface BoxGeometry {
  id: string;
  kind: 'atomic' | 'compound' | 'final' | 'initial' | 'any';
  x: number;
  y: number;
  width: number;
  height: number;
  /** Title and detail lines, top to bottom. */
  lines: TextLine[];
  /** Height of the header (title + details) for compound frames. */
  headerHeight: number;
  depth: number;
}

export interface EdgeGeometry {
  id: string;
  points: Array<[number, number]>;
  label?: { x: number; y: number; width: number; height: number; lines: TextLine[] };
  kind: 'transition' | 'initial';
}

export interface ChartGeometry {
  width: number;
  height: number;
  boxes: BoxGeometry[];
  edges: EdgeGeometry[];
}

interface ElkLabel {
  id: string;
  layoutOptions?: Record<string, string>;
  text: string;
  width: number;
  height: number;
  x?: number;
  y?: number;
}
interface ElkNode {
  id: string;
  width?: number;
  height?: number;
  x?: number;
  y?: number;
  layoutOptions?: Record<string, string>;
  children?: ElkNode[];
  edges?: ElkEdge[];
  labels?: ElkLabel[];
}
interface ElkEdge {
  id: string;
  layoutOptions?: Record<string, string>;
  sources: string[];
  targets: string[];
  labels?: ElkLabel[];
  sections?: Array<{
    startPoint: { x: number; y: number };
    endPoint: { x: number; y: number };
    bendPoints?: Array<{ x: number; y: number }>;
  }>;
}

function linesHeight(lines: readonly TextLine[]): number {
  return lines.reduce((h, l) => h + l.size * FONT.lineHeight, 0);
}

function linesWidth(lines: readonly TextLine[]): number {
  return Math.max(0, ...lines.map((l) => textWidth(l.text, l.size, l.bold)));
}

/** Wraps after commas/spaces so no line is wider than `max` px. */
export function wrap(text: string, size: number, max: number, indent = '  '): string[] {
  if (textWidth(text, size) <= max) return [text];
  const parts: string[] = [];
  for (const part of text.split(/(?<=, )|(?<= )/)) {
    // Never leave a lone "/" at the end of a line.
    if (parts.length && parts[parts.length - 1] === '/ ') parts[parts.length - 1] += part;
    else parts.push(part);
  }
  const lines: string[] = [];
  let current = '';
  for (const part of parts) {
    const candidate = current + part;
    if (current && textWidth(candidate.trimEnd(), size) > max) {
      lines.push(current.trimEnd());
      current = indent + part;
    } else {
      current = candidate;
    }
  }
  if (current.trim()) lines.push(current.trimEnd());
  return lines;
}

function detailLines(state: ChartState, internal: readonly ChartTransition[]): TextLine[] {
  const raw: Array<{ text: string; muted?: boolean }> = [];
  for (const inv of state.invoke) raw.push({ text: `invoke ${inv.src}` });
  if (state.entry.length) raw.push({ text: `entry / ${state.entry.join(', ')}`, muted: true });
  if (state.exit.length) raw.push({ text: `exit / ${state.exit.join(', ')}`, muted: true });
  for (const t of internal) {
    const actions = t.actions.length ? ` / ${t.actions.join(', ')}` : '';
    const again = isSelfLoop(t) ? ' ↺' : '';
    raw.push({ text: `${transitionLabel(t)}${again}${actions}`, muted: true });
  }
  return raw.flatMap((r) =>
    wrap(r.text, FONT.detail, DETAIL_WRAP).map((text) => ({
      text,
      size: FONT.detail,
      ...(r.muted ? { muted: true } : {}),
    })),
  );
}

function edgeLabelLines(t: ChartTransition): TextLine[] {
  const lines: TextLine[] = wrap(transitionLabel(t), FONT.label, LABEL_WRAP).map((text) => ({
    text,
    size: FONT.label,
    bold: false,
  }));
  if (t.actions.length) {
    for (const text of wrap(`/ ${t.actions.join(', ')}`, FONT.action, LABEL_WRAP)) {
      lines.push({ text, size: FONT.action, muted: true });
    }
  }
  return lines;
}

/** A transition back into its own state (exit and re-entry). */
function isSelfLoop(t: ChartTransition): boolean {
  return t.targets.length === 1 && t.targets[0] === t.source;
}

/** Drawn inside its state's box, not as an arrow: a transition without
 * targets (it stays), or one back into the same state. */
function isInternal(t: ChartTransition): boolean {
  return t.targets.length === 0 || isSelfLoop(t);
}

export async function layoutChart(chart: ChartModel): Promise<ChartGeometry> {
  const byId = new Map(chart.states.map((s) => [s.id, s]));
  const internalBySource = new Map<string, ChartTransition[]>();
  for (const t of chart.transitions) {
    if (!isInternal(t)) continue;
    const list = internalBySource.get(t.source) ?? [];
    list.push(t);
    internalBySource.set(t.source, list);
  }

  const boxes = new Map<string, Omit<BoxGeometry, 'x' | 'y' | 'width' | 'height'>>();
  const elkIds = new Map<string, string>(); // state id -> ELK node id
  const parentOf = new Map<string, string>(); // ELK node id -> ELK parent id
  let seq = 0;
  const nodeId = (stateId: string) => {
    let id = elkIds.get(stateId);
    if (!id) {
      id = `n${seq++}`;
      elkIds.set(stateId, id);
    }
    return id;
  };

  const baseOptions = {
    'elk.padding': `[top=${PAD},left=${PAD},bottom=${PAD},right=${PAD}]`,
  };

  const buildNode = (state: ChartState, depth: number, parentElk: string | null): ElkNode => {
    const id = nodeId(state.id);
    if (parentElk) parentOf.set(id, parentElk);
    const title: TextLine = { text: state.key, size: FONT.title, bold: true };
    const details = detailLines(state, internalBySource.get(state.id) ?? []);
    const lines = [title, ...details];
    const textW = linesWidth(lines);
    const textH = linesHeight(lines);
    if (state.children.length === 0) {
      const kind = state.type === 'final' ? 'final' : 'atomic';
      boxes.set(id, { id, kind, lines, headerHeight: textH + 2 * PAD, depth });
      return {
        id,
        width: Math.ceil(Math.max(textW + 2 * PAD + 8, 90)),
        height: Math.ceil(textH + 2 * PAD + (details.length ? 6 : 0)),
      };
    }
    const headerHeight = Math.ceil(textH + PAD + (details.length ? 8 : 0));
    boxes.set(id, { id, kind: 'compound', lines, headerHeight, depth });
    const children: ElkNode[] = [];
    if (state.initial) {
      const dot = `${id}_init`;
      parentOf.set(dot, id);
      boxes.set(dot, { id: dot, kind: 'initial', lines: [], headerHeight: 0, depth: depth + 1 });
      children.push({ id: dot, width: 12, height: 12 });
    }
    for (const child of state.children) children.push(buildNode(child, depth + 1, id));
    return {
      id,
      children,
      edges: [],
      layoutOptions: {
        'elk.padding': `[top=${headerHeight + PAD},left=${PAD + 6},bottom=${PAD + 6},right=${PAD + 6}]`,
        // elkjs 0.12 transposes a compound node's minimum size when the
        // hierarchy is laid out DOWN, so this is (height, width) on purpose.
        'elk.nodeSize.minimum': `(${headerHeight + 20}, ${Math.ceil(textW + 12 + 2 * PAD)})`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
      },
    };
  };

  // The machine's root is the drawing itself, not a frame around it.
  const rootState = chart.root;
  const rootId = nodeId(rootState.id);
  const topChildren: ElkNode[] = [];
  if (rootState.initial) {
    const dot = `${rootId}_init`;
    parentOf.set(dot, rootId);
    boxes.set(dot, { id: dot, kind: 'initial', lines: [], headerHeight: 0, depth: 0 });
    topChildren.push({ id: dot, width: 12, height: 12 });
  }
  for (const child of rootState.children) topChildren.push(buildNode(child, 0, rootId));
  const rootTransitions = chart.transitions.filter(
    (t) => t.source === rootState.id && !isInternal(t),
  );
  // Transitions of the machine that stay where they are are written inside it.
  const rootInternal = internalBySource.get(rootState.id) ?? [];
  if (rootTransitions.length || rootInternal.length) {
    const lines: TextLine[] = [
      { text: 'any state', size: FONT.detail, muted: true },
      ...detailLines({ ...rootState, invoke: [], entry: [], exit: [] }, rootInternal),
    ];
    boxes.set(ANY_STATE, { id: ANY_STATE, kind: 'any', lines, headerHeight: 0, depth: 0 });
    parentOf.set(ANY_STATE, rootId);
    topChildren.push({
      id: ANY_STATE,
      width: Math.ceil(linesWidth(lines) + 2 * PAD),
      height: Math.ceil(linesHeight(lines) + PAD),
    });
  }

  const root: ElkNode = {
    id: rootId,
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36',
      'elk.layered.spacing.edgeNodeBetweenLayers': '18',
      'elk.layered.spacing.edgeEdgeBetweenLayers': '12',
      'elk.spacing.nodeNode': '36',
      'elk.spacing.edgeNode': '16',
      'elk.spacing.edgeEdge': '12',
      'elk.spacing.edgeLabel': '4',
      'elk.spacing.labelNode': '6',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
      'elk.layered.considerModelOrder.strategy': 'PREFER_EDGES',
      // States are declared in the order a reader follows them: edges back to
      // an earlier state are the ones drawn upwards (see `priority` below).
      'elk.layered.cycleBreaking.strategy': 'DEPTH_FIRST',
      'elk.layered.crossingMinimization.forceNodeModelOrder': 'false',
      'elk.randomSeed': '1',
      ...baseOptions,
      'elk.padding': '[top=16,left=16,bottom=16,right=16]',
    },
    children: topChildren,
    edges: [],
  };

  // Index ELK nodes to attach each edge to the lowest common ancestor.
  const elkNodes = new Map<string, ElkNode>();
  const index = (n: ElkNode) => {
    elkNodes.set(n.id, n);
    for (const c of n.children ?? []) index(c);
  };
  index(root);
  const ancestors = (id: string): string[] => {
    const out = [id];
    let cur = parentOf.get(id);
    while (cur) {
      out.push(cur);
      cur = parentOf.get(cur);
    }
    return out;
  };
  const container = (a: string, b: string): ElkNode => {
    const up = ancestors(a).slice(1);
    const upB = new Set(ancestors(b).slice(1));
    // An edge into or out of a compound from inside it lives in that compound.
    if (ancestors(b).includes(a)) return elkNodes.get(a)!;
    if (ancestors(a).includes(b)) return elkNodes.get(b)!;
    for (const id of up) if (upB.has(id)) return elkNodes.get(id)!;
    return root;
  };
  const addEdge = (edge: ElkEdge) => {
    const owner = container(edge.sources[0]!, edge.targets[0]!);
    owner.edges ??= [];
    owner.edges.push(edge);
  };

  // Initial-state arrows.
  for (const state of chart.states) {
    if (!state.initial) continue;
    const dot = `${nodeId(state.id)}_init`;
    addEdge({
      id: `init_${dot}`,
      sources: [dot],
      targets: [nodeId(state.initial)],
      layoutOptions: { 'elk.layered.priority.direction': '10' },
    });
  }

  // One arrow per source → target pair, labelled with every transition it
  // stands for, in definition order: "dial error" and "after connectTimeout"
  // from dialing to fallingBack read as one list, not two crossing arrows.
  const bundles = new Map<string, { source: string; target: string; lines: TextLine[] }>();
  for (const t of chart.transitions) {
    if (isInternal(t)) continue;
    const source = t.source === rootState.id ? ANY_STATE : nodeId(t.source);
    for (const target of t.targets) {
      if (!byId.has(target)) continue;
      const key = `${source}->${nodeId(target)}`;
      const bundle = bundles.get(key) ?? { source, target: nodeId(target), lines: [] };
      bundle.lines.push(...edgeLabelLines(t));
      bundles.set(key, bundle);
    }
  }

  const labelsById = new Map<string, TextLine[]>();
  let edgeSeq = 0;
  for (const bundle of bundles.values()) {
    {
      const { source, lines } = bundle;
      const order = (id: string) => chart.states.findIndex((st) => nodeId(st.id) === id);
      const forward = source === ANY_STATE || order(bundle.target) > order(source);
      const id = `e${edgeSeq++}`;
      labelsById.set(`${id}_label`, lines);
      addEdge({
        id,
        sources: [source],
        targets: [bundle.target],
        layoutOptions: { 'elk.layered.priority.direction': forward ? '10' : '0' },
        labels: [
          {
            id: `${id}_label`,
            // On the edge, not beside it: the line runs through the label
            // (whose background masks it), so a label can never be read as
            // belonging to a neighbouring parallel edge, however long the
            // route (test/model/statecharts.test.ts checks the distances).
            layoutOptions: { 'elk.edgeLabels.inline': 'true' },
            text: lines.map((l) => l.text).join('\n'),
            width: Math.ceil(linesWidth(lines) + 6),
            height: Math.ceil(linesHeight(lines) + 2),
          },
        ],
      });
    }
  }

  // elk.bundled.js is CommonJS (module.exports = ELK); its .d.ts says `export
  // default`, which NodeNext types as a namespace. The runtime value is the class.
  const Elk = ElkModule as unknown as new () => { layout(graph: unknown): Promise<unknown> };
  const elk = new Elk();
  const laid = (await elk.layout(root as never)) as ElkNode;

  const outBoxes: BoxGeometry[] = [];
  const outEdges: EdgeGeometry[] = [];
  const collect = (n: ElkNode) => {
    const box = boxes.get(n.id);
    if (box) {
      outBoxes.push({
        ...box,
        x: n.x ?? 0,
        y: n.y ?? 0,
        width: n.width ?? 0,
        height: n.height ?? 0,
      });
    }
    for (const e of n.edges ?? []) {
      const section = e.sections?.[0];
      if (!section) continue;
      const points: Array<[number, number]> = [
        [section.startPoint.x, section.startPoint.y],
        ...(section.bendPoints ?? []).map((p): [number, number] => [p.x, p.y]),
        [section.endPoint.x, section.endPoint.y],
      ];
      const label = e.labels?.[0];
      const geometry: EdgeGeometry = {
        id: e.id,
        points,
        kind: e.id.startsWith('init_') ? 'initial' : 'transition',
      };
      if (label && label.x !== undefined && label.y !== undefined) {
        geometry.label = {
          x: label.x,
          y: label.y,
          width: label.width,
          height: label.height,
          lines: labelsById.get(label.id) ?? [],
        };
      }
      outEdges.push(geometry);
    }
    for (const c of n.children ?? []) collect(c);
  };
  collect(laid);
  outBoxes.sort((a, b) => a.depth - b.depth);
  return { width: laid.width ?? 0, height: laid.height ?? 0, boxes: outBoxes, edges: outEdges };
}
