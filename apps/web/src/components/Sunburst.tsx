"use client";

import { arc as d3arc } from "d3-shape";
import {
  type KeyboardEvent,
  type MouseEvent,
  memo,
  type PointerEvent,
  useEffect,
  useMemo,
  useRef,
  useState,
} from "react";
import {
  arcColor,
  LEVEL_COLORS,
  labelColor,
  UNTESTED_COLOR,
  UPSTREAM_COLOR,
} from "../sunburst/sunburst-colors";
import {
  type ArcGeometry,
  FULL_FRAME,
  interpolateFrame,
  layoutSunburst,
  type ProjectedArc,
  project,
  shapeKeyOf,
  type ZoomFrame,
} from "../sunburst/sunburst-layout";
import {
  buildSunburstTree,
  coverageOf,
  pathTo,
  type SunburstEndpoint,
  type SunburstNode,
} from "../sunburst/sunburst-tree";

const SIZE = 720;
const OUTER = 336;
const CENTRE = 84;
/** Rings below the root: level, category, kind, endpoint. */
const RINGS = 4;
const RIM = 5;
const ZOOM_MS = 450;

export interface SunburstProps {
  endpoints: readonly SunburstEndpoint[];
  /** Endpoints whose arcs should light up now (live hits). */
  flashing: ReadonlySet<string>;
  /** Where an endpoint's arc leads (its detail page, with the page's filters). */
  endpointHref: (operationId: string) => string;
  /** Navigates (client-side) to an endpoint's page. */
  onOpenEndpoint: (operationId: string) => void;
}

/**
 * The coverage sunburst: level -> category -> kind -> endpoint. Click or Enter zooms into an arc, the
 * centre or Escape zooms out; arrow keys move between arcs; hovering shows the figures behind an arc.
 */
export function Sunburst({ endpoints, flashing, endpointHref, onOpenEndpoint }: SunburstProps) {
  const tree = useMemo(() => buildSunburstTree(endpoints), [endpoints]);
  // Live hits change counts, not the shape: geometry and paths are kept until the shape changes, and
  // arcs are memoised on their own values, so a delta re-renders only the arcs it touched.
  const arcs = useShapeLayout(tree);
  const byId = useMemo(() => new Map(arcs.map((a) => [a.id, a])), [arcs]);
  const nodes = useMemo(() => nodeIndex(tree), [tree]);

  const [focusId, setFocusId] = useState("");
  const [cursorId, setCursorId] = useState<string | null>(null);
  const [hover, setHover] = useState<{ id: string; x: number; y: number } | null>(null);
  const frame = useZoomFrame(frameOf(byId.get(focusId)));
  const container = useRef<HTMLDivElement>(null);

  const focusTrail = pathTo(tree, focusId);
  const focus = focusTrail.at(-1) ?? tree;
  const cursor = cursorId ? (pathTo(tree, cursorId).at(-1) ?? null) : null;

  const zoomTo = (id: string) => {
    const target = pathTo(tree, id).at(-1);
    if (!target) return;
    if (target.endpoint) {
      onOpenEndpoint(target.endpoint.operationId);
      return;
    }
    setFocusId(target.id);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const current = cursor ?? focus;
    const parentOf = (n: SunburstNode) => pathTo(tree, n.id).at(-2) ?? tree;
    const siblings = current === focus ? focus.children : parentOf(current).children;
    const at = siblings.findIndex((s) => s.id === current.id);
    let handled = true;
    switch (event.key) {
      case "ArrowRight":
      case "ArrowLeft": {
        if (current === focus) setCursorId(focus.children[0]?.id ?? null);
        else {
          const step = event.key === "ArrowRight" ? 1 : -1;
          setCursorId(siblings[(at + step + siblings.length) % siblings.length]?.id ?? null);
        }
        break;
      }
      case "ArrowDown":
      case "Enter":
        if (current === focus) setCursorId(focus.children[0]?.id ?? null);
        else if (current.endpoint) {
          if (event.key === "Enter") onOpenEndpoint(current.endpoint.operationId);
        } else {
          setFocusId(current.id);
          setCursorId(current.children[0]?.id ?? null);
        }
        break;
      case "ArrowUp":
      case "Escape":
      case "Backspace":
        if (focus !== tree) {
          setCursorId(focus.id);
          setFocusId(parentOf(focus).id);
        } else setCursorId(null);
        break;
      case "Home":
        setFocusId("");
        setCursorId(null);
        break;
      default:
        handled = false;
    }
    if (handled) event.preventDefault();
  };

  // One click handler for every arc (and the centre, which zooms out), found through data attributes.
  const onClick = (event: MouseEvent<HTMLDivElement>) => {
    const target = event.target as Element;
    if (target.closest("[data-centre]")) {
      setFocusId(focusTrail.at(-2)?.id ?? "");
      return;
    }
    const id = target.closest("[data-arc]")?.getAttribute("data-arc");
    if (id !== null && id !== undefined) zoomTo(id);
  };

  const onPointerMove = (event: PointerEvent<SVGSVGElement>) => {
    const id = (event.target as Element).closest("[data-arc]")?.getAttribute("data-arc");
    const box = container.current?.getBoundingClientRect();
    if (!id || !box) setHover(null);
    else setHover({ id, x: event.clientX - box.left, y: event.clientY - box.top });
  };

  const radius = radiusOf(frame);
  // Paths change with the zoom frame only; a live delta reuses them.
  const visible = useMemo(() => {
    const ringRadius = radiusOf(frame);
    const arcPath = d3arc<ProjectedArc>()
      .startAngle((d) => d.startAngle)
      .endAngle((d) => d.endAngle)
      .innerRadius((d) => ringRadius(d.ring - 1))
      .outerRadius((d) => Math.max(ringRadius(d.ring - 1), ringRadius(d.ring) - 1))
      .padAngle((d) => Math.min(0.004, (d.endAngle - d.startAngle) / 6))
      .padRadius(OUTER);
    const rimPath = d3arc<ProjectedArc>()
      .startAngle((d) => d.startAngle)
      .endAngle((d) => d.endAngle)
      .innerRadius(OUTER + 2)
      .outerRadius(OUTER + 2 + RIM);
    const shown: Array<{ geometry: ArcGeometry; projected: ProjectedArc; d: string; rim: string }> = [];
    for (const geometry of arcs) {
      const projected = project(geometry, frame);
      if (projected.ring < 0.999 || projected.endAngle - projected.startAngle < 1e-9) continue;
      shown.push({ geometry, projected, d: arcPath(projected) ?? "", rim: rimPath(projected) ?? "" });
    }
    return shown;
  }, [arcs, frame]);
  const hovered = hover ? (pathTo(tree, hover.id).at(-1) ?? null) : null;

  return (
    <div className="sunburst" ref={container}>
      <nav className="breadcrumb" aria-label="Zoom path">
        {focusTrail.map((n, i) => (
          <span key={n.id || "all"}>
            {i > 0 && <span className="breadcrumb-sep"> › </span>}
            {n === focus ? (
              <strong data-testid="breadcrumb-current">{n.name}</strong>
            ) : (
              <button type="button" className="link-button" onClick={() => setFocusId(n.id)}>
                {n.name}
              </button>
            )}
          </span>
        ))}
      </nav>
      <div
        className="sunburst-frame"
        // biome-ignore lint/a11y/noNoninteractiveTabindex: one tab stop for the whole chart; arrow keys move inside
        tabIndex={0}
        role="application"
        aria-label="Coverage sunburst. Arrow keys move between arcs, Enter zooms in, Escape zooms out."
        aria-describedby="sunburst-announcement"
        onKeyDown={onKeyDown}
        onClick={onClick}
        data-testid="sunburst"
      >
        <svg
          viewBox={`${-SIZE / 2} ${-SIZE / 2} ${SIZE} ${SIZE}`}
          role="img"
          aria-label={`Sunburst of ${tree.endpoints} endpoints`}
          onPointerMove={onPointerMove}
          onPointerLeave={() => setHover(null)}
        >
          <g>
            {visible.map(({ geometry, d }) => {
              const node = nodes.get(geometry.id);
              if (!node) return null;
              const classes = ["arc"];
              if (node.endpoint && flashing.has(node.endpoint.operationId)) classes.push("arc-flash");
              if (cursor?.id === node.id) classes.push("arc-cursor");
              if (hover?.id === node.id) classes.push("arc-hover");
              return (
                <Arc
                  key={node.id}
                  id={node.id}
                  d={d}
                  fill={arcColor(node)}
                  className={classes.join(" ")}
                  ring={node.ring}
                  operationId={node.endpoint?.operationId}
                  hits={node.hits}
                />
              );
            })}
          </g>
          <g>
            {visible.map(({ geometry, rim }) =>
              nodes.get(geometry.id)?.endpoint?.upstreamTested ? (
                <path key={geometry.id} d={rim} fill={UPSTREAM_COLOR} data-upstream="" />
              ) : null,
            )}
          </g>
          <g pointerEvents="none">
            {visible.map(({ geometry, projected }) => {
              const node = nodes.get(geometry.id);
              return node && node.ring !== "endpoint" ? (
                <ArcLabel
                  key={geometry.id}
                  name={node.name}
                  fill={arcColor(node)}
                  startAngle={projected.startAngle}
                  endAngle={projected.endAngle}
                  inner={radius(projected.ring - 1)}
                  outer={radius(projected.ring)}
                />
              ) : null;
            })}
          </g>
          <g className="sunburst-centre" data-centre="">
            <circle r={CENTRE - 2} fill="#fff" />
            <text y={-14} textAnchor="middle" className="centre-name">
              {focus === tree ? "all endpoints" : focus.name}
            </text>
            <text y={12} textAnchor="middle" className="centre-figure" data-testid="centre-figure">
              {percent(coverageOf(focus))}
            </text>
            <text y={32} textAnchor="middle" className="centre-detail">
              {focus.hitEndpoints} of {focus.endpoints} hit
            </text>
          </g>
        </svg>
        <p id="sunburst-announcement" className="visually-hidden" aria-live="polite">
          {describe(cursor ?? focus)}
        </p>
      </div>
      {hovered && hover && <ArcTooltip node={hovered} x={hover.x} y={hover.y} href={endpointHref} />}
      <SunburstLegend />
    </div>
  );
}

/** One arc; memoised on its values, so only arcs whose fill, class or hits changed re-render. */
const Arc = memo(function Arc(props: {
  id: string;
  d: string;
  fill: string;
  className: string;
  ring: string;
  operationId: string | undefined;
  hits: number;
}) {
  return (
    <path
      d={props.d}
      fill={props.fill}
      className={props.className}
      data-arc={props.id}
      data-ring={props.ring}
      data-operation-id={props.operationId}
      data-hits={props.hits}
    />
  );
});

/** An arc's name, along the arc when it fits, across the ring when that fits, else nothing. */
const ArcLabel = memo(function ArcLabel({
  name,
  fill,
  startAngle,
  endAngle,
  inner,
  outer,
}: {
  name: string;
  fill: string;
  startAngle: number;
  endAngle: number;
  inner: number;
  outer: number;
}) {
  const middle = (inner + outer) / 2;
  const angle = (startAngle + endAngle) / 2;
  const arcLength = (endAngle - startAngle) * middle;
  const height = outer - inner;
  const text = name;
  const width = text.length * 6.4;
  const degrees = (angle * 180) / Math.PI;
  const x = Math.sin(angle) * middle;
  const y = -Math.cos(angle) * middle;
  let transform: string;
  if (arcLength > width + 8 && height > 14) {
    // Along the arc, upright in the lower half.
    const flip = angle > Math.PI / 2 && angle < (3 * Math.PI) / 2 ? 180 : 0;
    transform = `translate(${x},${y}) rotate(${degrees + flip})`;
  } else if (height > width + 6 && arcLength > 13) {
    // Across the ring, upright on the left half.
    const flip = angle > Math.PI ? 180 : 0;
    transform = `translate(${x},${y}) rotate(${degrees - 90 + flip})`;
  } else return null;
  return (
    <text transform={transform} textAnchor="middle" dy="0.35em" className="arc-label" fill={labelColor(fill)}>
      {text}
    </text>
  );
});

function ArcTooltip({
  node,
  x,
  y,
  href,
}: {
  node: SunburstNode;
  x: number;
  y: number;
  href: (operationId: string) => string;
}) {
  const endpoint = node.endpoint;
  return (
    <div
      className="tooltip"
      style={{ left: x + 14, top: y + 14 }}
      role="tooltip"
      data-testid="sunburst-tooltip"
    >
      <div className="tooltip-title">{node.name}</div>
      {endpoint ? (
        <>
          <div className="mono">
            {endpoint.method} {endpoint.path}
          </div>
          <div>
            {endpoint.level} · {endpoint.category} · {endpoint.kind ?? "no kind"}
            {endpoint.deprecated && " · deprecated"}
          </div>
          <div>
            <strong>{endpoint.hits.toLocaleString("en")}</strong> hits
            {endpoint.upstreamTested !== null &&
              (endpoint.upstreamTested ? " · tested by upstream e2e" : " · not tested by upstream e2e")}
          </div>
          <div className="tooltip-hint">click for details · {href(endpoint.operationId)}</div>
        </>
      ) : (
        <>
          <div>{node.ring}</div>
          <div>
            <strong>{node.hitEndpoints}</strong> of {node.endpoints} endpoints hit (
            {percent(coverageOf(node))})
          </div>
          <div>{node.hits.toLocaleString("en")} hits</div>
          <div className="tooltip-hint">click to zoom</div>
        </>
      )}
    </div>
  );
}

function SunburstLegend() {
  return (
    <ul className="legend" aria-label="Legend">
      {(Object.keys(LEVEL_COLORS) as Array<keyof typeof LEVEL_COLORS>).map((level) => (
        <li key={level}>
          <span className="swatch" style={{ background: LEVEL_COLORS[level] }} /> hit, {level}
        </li>
      ))}
      <li>
        <span className="swatch" style={{ background: UNTESTED_COLOR }} /> not hit
      </li>
      <li>
        <span className="swatch swatch-rim" style={{ background: UPSTREAM_COLOR }} /> rim: tested by upstream
        e2e
      </li>
      <li>
        <span className="swatch swatch-flash" /> live hit
      </li>
      <li className="legend-note">inner rings: paler = less covered</li>
    </ul>
  );
}

/**
 * The layout of the tree's shape, recomputed only when the shape changes (a new release, another level
 * filter), not when hits do.
 */
function useShapeLayout(tree: SunburstNode): ArcGeometry[] {
  const cache = useRef<{ key: string; arcs: ArcGeometry[] } | null>(null);
  const key = shapeKeyOf(tree);
  if (cache.current?.key !== key) cache.current = { key, arcs: layoutSunburst(tree) };
  return cache.current.arcs;
}

/** Ring radii in a zoom frame: the rings below the focus share the space outside the centre. */
function radiusOf(frame: ZoomFrame): (ring: number) => number {
  const ringWidth = (OUTER - CENTRE) / Math.max(1, RINGS - frame.ring);
  return (ring) => CENTRE + ring * ringWidth;
}

/** Every node of the tree by id. */
function nodeIndex(root: SunburstNode): Map<string, SunburstNode> {
  const index = new Map<string, SunburstNode>();
  const visit = (node: SunburstNode) => {
    index.set(node.id, node);
    for (const child of node.children) visit(child);
  };
  visit(root);
  return index;
}

/** The frame that shows `geometry` filling the circle (the whole sunburst when undefined). */
function frameOf(geometry: ArcGeometry | undefined): ZoomFrame {
  return geometry ? { x0: geometry.x0, x1: geometry.x1, ring: geometry.ring } : FULL_FRAME;
}

/** Animates between zoom frames; only the frame's numbers matter, so a new object per render is fine. */
function useZoomFrame(target: ZoomFrame): ZoomFrame {
  const [frame, setFrame] = useState(target);
  const current = useRef(frame);
  current.current = frame;
  const { x0, x1, ring } = target;
  useEffect(() => {
    const from = current.current;
    const to = { x0, x1, ring };
    if (from.x0 === x0 && from.x1 === x1 && from.ring === ring) return;
    const reduced = window.matchMedia?.("(prefers-reduced-motion: reduce)").matches;
    if (reduced) {
      setFrame(to);
      return;
    }
    const start = performance.now();
    let handle = 0;
    const step = (now: number) => {
      const t = Math.min(1, (now - start) / ZOOM_MS);
      const eased = t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2;
      setFrame(t === 1 ? to : interpolateFrame(from, to, eased));
      if (t < 1) handle = requestAnimationFrame(step);
    };
    handle = requestAnimationFrame(step);
    return () => cancelAnimationFrame(handle);
  }, [x0, x1, ring]);
  return frame;
}

function describe(node: SunburstNode): string {
  if (node.endpoint) {
    return `${node.name}: ${node.endpoint.method} ${node.endpoint.path}, ${node.endpoint.hits} hits`;
  }
  return `${node.name} (${node.ring}): ${node.hitEndpoints} of ${node.endpoints} endpoints hit`;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share > 0 && share < 0.001 ? 2 : 1)}%`;
}
