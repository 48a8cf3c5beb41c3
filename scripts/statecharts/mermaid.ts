/**
 * statecharts/<id>.mmd: Mermaid stateDiagram-v2, for GitHub's renderer and
 * for anyone who prefers text. Compound states nest; a transition declared on
 * the machine itself (STOP from anywhere) is drawn from each top-level state,
 * which is what it means; a targetless transition is a self-loop marked
 * "(internal)" because it neither exits nor re-enters.
 */
import type { ChartModel, ChartState } from './walk.js';
import { transitionLabel } from './walk.js';

export function renderMermaid(chart: ChartModel): string {
  const keyCount = new Map<string, number>();
  for (const s of chart.states) keyCount.set(s.key, (keyCount.get(s.key) ?? 0) + 1);
  // Mermaid ids are global: the key when unique, else the path.
  const name = new Map(
    chart.states.map((s) => [s.id, keyCount.get(s.key) === 1 ? s.key : s.path.join('_')]),
  );
  const byId = new Map(chart.states.map((s) => [s.id, s]));
  const lines = ['---', `title: ${chart.id}`, '---', 'stateDiagram-v2'];

  const emitState = (state: ChartState, indent: string) => {
    if (state.initial) lines.push(`${indent}[*] --> ${name.get(state.initial)}`);
    for (const child of state.children) {
      if (child.children.length) {
        lines.push(`${indent}state ${name.get(child.id)} {`);
        emitState(child, `${indent}  `);
        lines.push(`${indent}}`);
      } else if (child.type === 'final') {
        lines.push(`${indent}${name.get(child.id)} --> [*]`);
      }
      for (const inv of child.invoke) {
        lines.push(`${indent}note right of ${name.get(child.id)} : invoke ${inv.src}`);
      }
    }
  };
  emitState(chart.root, '  ');

  for (const t of chart.transitions) {
    const label = transitionLabel(t);
    const sources =
      t.source === chart.root.id
        ? chart.root.children
            .filter((c) => c.type !== 'final' && !t.targets.includes(c.id))
            .map((c) => c.id)
        : [t.source];
    for (const source of sources) {
      if (t.targets.length === 0) {
        lines.push(`  ${name.get(source)} --> ${name.get(source)} : ${label} (internal)`);
      }
      for (const target of t.targets) {
        if (!byId.has(target)) continue;
        lines.push(`  ${name.get(source)} --> ${name.get(target)} : ${label}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
