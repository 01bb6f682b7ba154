import dagre from '@dagrejs/dagre';

/**
 * The layout of a workflow's dependency graph (a DAG), drawn as SVG by the workflows page: dagre's layered
 * layout, top to bottom, each task one rank below its deepest dependency (dagre's longest-path ranker: its
 * default, network simplex, shortens long edges but takes seconds from a hundred or so tasks on), crossings
 * reduced (small graphs), edges routed around the boxes. Laid out again only when the graph's shape changes: the page
 * redraws every few seconds for the colours alone.
 */
export interface LayoutNode {
  id: string;
  dependsOn: string[];
}

export interface PlacedNode {
  id: string;
  /** The box's top-left corner. */
  x: number;
  y: number;
}

export interface PlacedEdge {
  from: string;
  to: string;
  points: Array<{ x: number; y: number }>;
}

export interface DagLayout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  width: number;
  height: number;
}

export const NODE_WIDTH = 150;
export const NODE_HEIGHT = 34;
/** Beyond this many tasks the page shows the table only: a layout of more boxes helps nobody and takes seconds. */
export const MAX_GRAPH_NODES = 200;
/** Up to this many tasks dagre sweeps the ranks for fewer crossings; beyond, its first order stands (the sweeps grow fastest). */
const MAX_ORDER_SWEEPS_NODES = 60;

let last: { shape: string; layout: DagLayout } | null = null;

export function layoutDag(input: LayoutNode[]): DagLayout {
  const ids = new Set(input.map((node) => node.id));
  // Dependencies outside the graph are left out; a cycle (which the API refuses) dagre breaks itself.
  const edges = input.flatMap((node) => node.dependsOn.filter((dep) => ids.has(dep)).map((dep) => ({ from: dep, to: node.id })));
  const shape = JSON.stringify([[...ids], edges.map((edge) => [edge.from, edge.to])]);
  if (last?.shape === shape) return last.layout;
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: 'TB', ranker: 'longest-path', nodesep: 30, ranksep: 50, marginx: 10, marginy: 10 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const id of ids) graph.setNode(id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const edge of edges) graph.setEdge(edge.from, edge.to);
  dagre.layout(graph, { disableOptimalOrderHeuristic: ids.size > MAX_ORDER_SWEEPS_NODES });
  const size = graph.graph() as { width?: number; height?: number };
  const layout: DagLayout = {
    // dagre places each node by its centre.
    nodes: [...ids].map((id) => {
      const node = graph.node(id) as { x: number; y: number };
      return { id, x: node.x - NODE_WIDTH / 2, y: node.y - NODE_HEIGHT / 2 };
    }),
    edges: edges.map((edge) => ({ ...edge, points: ((graph.edge(edge.from, edge.to) as { points?: Array<{ x: number; y: number }> }).points ?? []) })),
    width: Math.ceil(size.width ?? NODE_WIDTH),
    height: Math.ceil(size.height ?? NODE_HEIGHT),
  };
  last = { shape, layout };
  return layout;
}
