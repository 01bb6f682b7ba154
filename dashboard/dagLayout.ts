/**
 * A layered layout of a workflow's dependency graph (a DAG), drawn as SVG by the workflows page: each task goes
 * one layer below its deepest dependency (longest path), and tasks within a layer are ordered by the mean
 * position of their dependencies (one barycentre sweep down), which keeps most edges short and uncrossed.
 */
export interface LayoutNode {
  id: string;
  dependsOn: string[];
}

export interface PlacedNode {
  id: string;
  layer: number;
  x: number;
  y: number;
}

export interface DagLayout {
  nodes: PlacedNode[];
  edges: Array<{ from: string; to: string }>;
  width: number;
  height: number;
}

export const NODE_WIDTH = 150;
export const NODE_HEIGHT = 34;
const GAP_X = 30;
const GAP_Y = 50;
const MARGIN = 10;

export function layoutDag(input: LayoutNode[]): DagLayout {
  const byId = new Map(input.map((node) => [node.id, node]));
  const layerOf = new Map<string, number>();
  const visiting = new Set<string>();
  // Dependencies outside the graph are ignored; a cycle (which the API refuses) would just be cut.
  const layer = (id: string): number => {
    const known = layerOf.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const deps = (byId.get(id)?.dependsOn ?? []).filter((dep) => byId.has(dep));
    const value = deps.length ? Math.max(...deps.map(layer)) + 1 : 0;
    visiting.delete(id);
    layerOf.set(id, value);
    return value;
  };
  const layers: string[][] = [];
  for (const node of input) (layers[layer(node.id)] ??= []).push(node.id);
  const order = new Map<string, number>();
  for (const ids of layers) {
    if (!ids) continue;
    const weight = (id: string) => {
      const deps = (byId.get(id)?.dependsOn ?? []).filter((dep) => order.has(dep));
      return deps.length ? deps.reduce((sum, dep) => sum + order.get(dep)!, 0) / deps.length : Number.POSITIVE_INFINITY;
    };
    const weights = new Map(ids.map((id) => [id, weight(id)]));
    ids.sort((a, b) => weights.get(a)! - weights.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
    ids.forEach((id, index) => order.set(id, index));
  }
  const widest = Math.max(1, ...layers.map((ids) => ids?.length ?? 0));
  const width = MARGIN * 2 + widest * NODE_WIDTH + (widest - 1) * GAP_X;
  const nodes: PlacedNode[] = [];
  layers.forEach((ids, index) => {
    if (!ids) return;
    const rowWidth = ids.length * NODE_WIDTH + (ids.length - 1) * GAP_X;
    const left = (width - rowWidth) / 2;
    ids.forEach((id, position) => nodes.push({ id, layer: index, x: left + position * (NODE_WIDTH + GAP_X), y: MARGIN + index * (NODE_HEIGHT + GAP_Y) }));
  });
  const edges = input.flatMap((node) => node.dependsOn.filter((dep) => byId.has(dep)).map((dep) => ({ from: dep, to: node.id })));
  const height = MARGIN * 2 + Math.max(1, layers.length) * NODE_HEIGHT + Math.max(0, layers.length - 1) * GAP_Y;
  return { nodes, edges, width, height };
}
