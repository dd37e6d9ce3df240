import { hierarchy, partition } from "d3-hierarchy";
import type { SunburstNode } from "./sunburst-tree";

/** One arc in unit space: angles in radians, rings counted from the root (ring 1 = levels). */
export interface ArcGeometry {
  /** The node's id: geometry depends on the tree's shape only, never on hits. */
  id: string;
  /** Parent's id ("" for the levels). */
  parentId: string;
  x0: number;
  x1: number;
  ring: number;
}

/** The arcs of the whole tree, outermost last (d3 partition: every endpoint the same angle). */
export function layoutSunburst(root: SunburstNode): ArcGeometry[] {
  const tree = hierarchy(root, (n) => n.children).sum((n) => (n.endpoint ? 1 : 0));
  partition<SunburstNode>().size([2 * Math.PI, 1])(tree);
  const arcs: ArcGeometry[] = [];
  for (const d of tree.descendants()) {
    if (d.depth === 0) continue;
    const laid = d as typeof d & { x0: number; x1: number };
    arcs.push({ id: d.data.id, parentId: d.parent?.data.id ?? "", x0: laid.x0, x1: laid.x1, ring: d.depth });
  }
  return arcs;
}

/** What the view is zoomed to: the focused arc's angular extent and ring. */
export interface ZoomFrame {
  x0: number;
  x1: number;
  ring: number;
}

/** The frame of the whole sunburst. */
export const FULL_FRAME: ZoomFrame = { x0: 0, x1: 2 * Math.PI, ring: 0 };

/** An arc mapped into a zoom frame: angles stretched so the focus fills the circle, rings shifted. */
export interface ProjectedArc {
  startAngle: number;
  endAngle: number;
  /** Ring relative to the focus: 1 is the first ring outside the centre. */
  ring: number;
}

/** Projects an arc into `frame`; angles clamp to [0, 2π], so arcs outside the focus collapse to nothing. */
export function project(arc: { x0: number; x1: number; ring: number }, frame: ZoomFrame): ProjectedArc {
  const span = frame.x1 - frame.x0 || 1;
  const scale = (x: number) => Math.max(0, Math.min(2 * Math.PI, ((x - frame.x0) / span) * 2 * Math.PI));
  return { startAngle: scale(arc.x0), endAngle: scale(arc.x1), ring: arc.ring - frame.ring };
}

/** Linear interpolation between two frames, `t` in 0..1 (for the zoom transition). */
export function interpolateFrame(from: ZoomFrame, to: ZoomFrame, t: number): ZoomFrame {
  return {
    x0: from.x0 + (to.x0 - from.x0) * t,
    x1: from.x1 + (to.x1 - from.x1) * t,
    ring: from.ring + (to.ring - from.ring) * t,
  };
}

/** A string that changes exactly when the tree's shape (its ids, in order) changes. */
export function shapeKeyOf(root: SunburstNode): string {
  const ids: string[] = [];
  const visit = (node: SunburstNode) => {
    ids.push(node.id);
    for (const child of node.children) visit(child);
  };
  visit(root);
  return ids.join("\n");
}
