/**
 * Plane geometry over the layout's boxes and polylines: distances and
 * crossings, for drawing leaders (svg.ts) and for checking that every label
 * sits by its own edge (test/model/statecharts.test.ts).
 */

export type Point = readonly [number, number];

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Closest point of segment a–b to p. */
export function nearestOnSegment(p: Point, a: Point, b: Point): [number, number] {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len = dx * dx + dy * dy;
  const t =
    len === 0 ? 0 : Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len));
  return [a[0] + t * dx, a[1] + t * dy];
}

/** Closest point of a polyline to p. */
export function nearestOnPolyline(points: readonly Point[], p: Point): [number, number] {
  let best: [number, number] = [points[0]![0], points[0]![1]];
  let bestD = Number.POSITIVE_INFINITY;
  for (let i = 1; i < points.length; i++) {
    const q = nearestOnSegment(p, points[i - 1]!, points[i]!);
    const d = (q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2;
    if (d < bestD) {
      bestD = d;
      best = q;
    }
  }
  return best;
}

export function pointToPolyline(points: readonly Point[], p: Point): number {
  const q = nearestOnPolyline(points, p);
  return Math.hypot(q[0] - p[0], q[1] - p[1]);
}

function pointToRect(rect: Rect, p: Point): number {
  const dx = Math.max(rect.x - p[0], 0, p[0] - (rect.x + rect.width));
  const dy = Math.max(rect.y - p[1], 0, p[1] - (rect.y + rect.height));
  return Math.hypot(dx, dy);
}

/** True when segment a–b enters the rectangle's interior (touching its border does not count). */
export function segmentCrossesRect(rect: Rect, a: Point, b: Point, inset = 0.5): boolean {
  // Liang–Barsky clipping against the rectangle shrunk by `inset`.
  const x0 = rect.x + inset;
  const x1 = rect.x + rect.width - inset;
  const y0 = rect.y + inset;
  const y1 = rect.y + rect.height - inset;
  if (x0 >= x1 || y0 >= y1) return false;
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  let lo = 0;
  let hi = 1;
  const sides: Array<[number, number]> = [
    [-dx, a[0] - x0],
    [dx, x1 - a[0]],
    [-dy, a[1] - y0],
    [dy, y1 - a[1]],
  ];
  for (const [p, q] of sides) {
    if (p === 0) {
      if (q < 0) return false;
      continue;
    }
    const t = q / p;
    if (p < 0) lo = Math.max(lo, t);
    else hi = Math.min(hi, t);
    if (lo > hi) return false;
  }
  return true;
}

export function polylineCrossesRect(rect: Rect, points: readonly Point[]): boolean {
  for (let i = 1; i < points.length; i++) {
    if (segmentCrossesRect(rect, points[i - 1]!, points[i]!)) return true;
  }
  return false;
}

/** Gap between a rectangle and a polyline: 0 when the line touches or enters it. */
export function rectToPolyline(rect: Rect, points: readonly Point[]): number {
  if (points.length === 1) return pointToRect(rect, points[0]!);
  let best = Number.POSITIVE_INFINITY;
  const corners: Point[] = [
    [rect.x, rect.y],
    [rect.x + rect.width, rect.y],
    [rect.x, rect.y + rect.height],
    [rect.x + rect.width, rect.y + rect.height],
  ];
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    if (segmentCrossesRect(rect, a, b, 0)) return 0;
    best = Math.min(best, pointToRect(rect, a), pointToRect(rect, b));
    for (const corner of corners) {
      const q = nearestOnSegment(corner, a, b);
      best = Math.min(best, Math.hypot(q[0] - corner[0], q[1] - corner[1]));
    }
  }
  return best;
}

export function rectCenter(rect: Rect): [number, number] {
  return [rect.x + rect.width / 2, rect.y + rect.height / 2];
}
