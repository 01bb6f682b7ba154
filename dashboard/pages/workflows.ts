import { ApiError, apiGet, apiPost, withQuery } from '../api.js';
import { confirmAction } from '../confirm.js';
import { layoutDag, MAX_GRAPH_NODES, NODE_HEIGHT, NODE_WIDTH } from '../dagLayout.js';
import { badge, h, keyValues, replaceChildren, table } from '../dom.js';
import { formatJson, formatTime } from '../format.js';
import { every, link, type PageContext } from '../router.js';
import type { Workflow, WorkflowStatus, WorkflowTask } from '../types.js';

const STATUSES: WorkflowStatus[] = ['PENDING', 'RUNNING', 'SUCCESSFUL', 'FAILED', 'RESUMABLE', 'CANCELED'];
const ACTIVE: WorkflowStatus[] = ['PENDING', 'RUNNING'];

/** What a task's node is coloured by: its result once it ended, else its status. */
export function taskState(task: WorkflowTask): string {
  return task.status === 'completed' && task.result ? task.result : task.status;
}

const NODE_FILL: Record<string, string> = {
  success: '#d1fadf', failure: '#fee4e2', error: '#fee4e2', aborted: '#fee4e2', skipped: '#fef0c7',
  blocked: '#eef1f5', pending: '#fef0c7', running: '#d1e9ff', completed: '#d1fadf',
};

export function counts(workflow: Workflow): string {
  const { total, ...byStatus } = workflow.task_counts;
  const parts = Object.entries(byStatus).filter(([, count]) => count > 0).map(([status, count]) => `${count} ${status}`);
  return `${total} task${total === 1 ? '' : 's'}${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

/** Workflows, newest first, by status (?status=RUNNING), with cursor pagination. */
export async function workflowsPage({ root, params, signal }: PageContext): Promise<void> {
  const status = params.get('status') ?? '';
  const select = h('select', { name: 'status', 'data-filter': 'status' }, h('option', { value: '' }, 'any'), ...STATUSES.map((value) => h('option', { value, selected: value === status }, value)));
  select.addEventListener('change', () => {
    location.hash = link('workflows', [], { status: select.value || undefined });
  });
  const list = h('div', {});
  replaceChildren(root, h('h1', {}, 'Workflows'), h('form', { class: 'filters' }, h('label', {}, 'status', select)), list);
  const load = async () => {
    const answer = await apiGet<{ workflows: Workflow[]; next_cursor: string | null }>(withQuery('/api/v1/workflows', { status: status || undefined, limit: 100, cursor: params.get('cursor') }), signal);
    replaceChildren(
      list,
      answer.workflows.length === 0
        ? h('p', { class: 'muted' }, status ? `No ${status} workflow.` : 'No workflow yet: create one with POST /api/v1/workflows.')
        : table(
            [{ label: 'workflow' }, { label: 'status' }, { label: 'tasks' }, { label: 'cost', num: true }, { label: 'budget' }, { label: 'created' }, { label: 'ended' }],
            answer.workflows.map((workflow) => [
              h('a', { href: link('workflows', [workflow.workflow_id]) }, workflow.workflow_id),
              badge(workflow.status.toLowerCase()),
              counts(workflow),
              workflow.cost.toFixed(4),
              workflow.budget ?? '',
              formatTime(workflow.created_at),
              formatTime(workflow.stats.end_time),
            ]),
            { 'data-table': 'workflows' },
          ),
      answer.next_cursor ? h('div', { class: 'pager' }, h('a', { href: link('workflows', [], { status: status || undefined, cursor: answer.next_cursor }) }, 'Older →')) : null,
    );
  };
  await load();
  every(5000, signal, load);
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag: string, attributes: Record<string, string | number>, text?: string): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** The dependency graph (laid out by dagre): one box per task, coloured by its state, linked to its work request; arrows from dependency to dependant. */
export function dependencyGraph(tasks: WorkflowTask[]): SVGElement {
  const layout = layoutDag(tasks.map((task) => ({ id: task.task_id, dependsOn: task.depends_on })));
  const byId = new Map(tasks.map((task) => [task.task_id, task]));
  const graph = svg('svg', { width: layout.width, height: layout.height, viewBox: `0 0 ${layout.width} ${layout.height}`, 'data-graph': 'workflow', role: 'img' });
  const defs = svg('defs', {});
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.appendChild(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#667085' }));
  defs.appendChild(marker);
  graph.appendChild(defs);
  for (const edge of layout.edges) {
    // dagre's route for the edge, through the points it bent around other boxes; arrow at the dependant.
    const [first, ...rest] = edge.points;
    if (!first) continue;
    const d = `M ${first.x} ${first.y} ${rest.map((point) => `L ${point.x} ${point.y}`).join(' ')}`;
    graph.appendChild(svg('path', { d, fill: 'none', stroke: '#98a2b3', 'stroke-width': 1.5, 'stroke-linejoin': 'round', 'marker-end': 'url(#arrow)', 'data-edge': `${edge.from}->${edge.to}` }));
  }
  for (const node of layout.nodes) {
    const task = byId.get(node.id)!;
    const state = taskState(task);
    const anchor = svg('a', { href: link('requests', [task.work_request_id]) });
    const group = svg('g', { 'data-node': task.task_id, 'data-state': state });
    group.appendChild(svg('title', {}, `${task.task_id}: ${state} (work request ${task.work_request_id}, attempt ${task.attempt})`));
    group.appendChild(svg('rect', { x: node.x, y: node.y, width: NODE_WIDTH, height: NODE_HEIGHT, rx: 6, fill: NODE_FILL[state] ?? '#e4e7ec', stroke: '#667085' }));
    const label = task.task_id.length > 18 ? `${task.task_id.slice(0, 17)}…` : task.task_id;
    group.appendChild(svg('text', { x: node.x + NODE_WIDTH / 2, y: node.y + 14, 'text-anchor': 'middle', 'font-size': 12, fill: '#1d2330' }, label));
    group.appendChild(svg('text', { x: node.x + NODE_WIDTH / 2, y: node.y + 28, 'text-anchor': 'middle', 'font-size': 10, fill: '#667085' }, state));
    anchor.appendChild(group);
    graph.appendChild(anchor);
  }
  return graph;
}

/** One workflow: metadata, its dependency graph coloured by status, its tasks, and cancel/resume (asked first). */
export async function workflowDetailPage({ root, rest, signal }: PageContext): Promise<void> {
  const id = rest[0];
  const path = `/api/v1/workflows/${encodeURIComponent(id)}`;
  const message = h('p', { class: 'muted', role: 'status', 'data-message': '' });
  const body = h('div', {});
  replaceChildren(root, h('h1', {}, `Workflow ${id}`), message, body);
  const act = async (verb: 'cancel' | 'resume', question: string) => {
    if (!(await confirmAction(question))) return;
    try {
      const workflow = await apiPost<Workflow>(`${path}/${verb}`);
      message.textContent = `Workflow ${id} ${verb === 'cancel' ? 'cancelled' : 'resumed'}: now ${workflow.status}.`;
    } catch (error) {
      message.textContent = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
    }
    await load();
  };
  const load = async () => {
    const workflow = await apiGet<Workflow & { tasks: WorkflowTask[] }>(`${path}?tasks=true`, signal);
    const canCancel = ACTIVE.includes(workflow.status) || workflow.status === 'RESUMABLE';
    const canResume = workflow.status === 'FAILED' || workflow.status === 'RESUMABLE';
    replaceChildren(
      body,
      h(
        'div',
        { class: 'actions' },
        canCancel ? h('button', { type: 'button', 'data-action': 'cancel-workflow', onclick: () => void act('cancel', `Cancel workflow ${id}? Blocked and pending tasks are aborted, running ones killed; it cannot be resumed.`) }, 'Cancel workflow') : null,
        canResume ? h('button', { type: 'button', 'data-action': 'resume-workflow', onclick: () => void act('resume', `Resume workflow ${id}? Failed, aborted and skipped tasks run again as new attempts.`) }, 'Resume workflow') : null,
        workflow.budget || workflow.open ? h('a', { href: link('runs', [id]) }, 'Run: workers and spend') : null,
      ),
      keyValues(
        [
          ['status', h('span', {}, badge(workflow.status.toLowerCase()), workflow.status_reason ? ` ${workflow.status_reason}` : '')],
          ['tasks', counts(workflow)],
          ['open', workflow.open ? 'yes: accepts tasks until closed' : 'no'],
          ['priority', workflow.priority],
          ['max running', workflow.max_running ?? 'no limit'],
          ['cost', workflow.cost.toFixed(4)],
          ['budget', workflow.budget ? `${workflow.budget} (on budget: ${workflow.on_budget})` : 'none'],
          ['created', formatTime(workflow.created_at)],
          ['started', formatTime(workflow.stats.start_time)],
          ['ended', formatTime(workflow.stats.end_time)],
          ['user metadata', h('pre', {}, formatJson(workflow.user_metadata))],
        ],
        { 'data-section': 'workflow-metadata' },
      ),
      h('h2', {}, 'Dependency graph'),
      workflow.tasks.length === 0
        ? h('p', { class: 'muted' }, 'No task yet.')
        : workflow.tasks.length > MAX_GRAPH_NODES
          ? h('p', { class: 'muted' }, `${workflow.tasks.length} tasks: the graph is drawn for up to ${MAX_GRAPH_NODES}; see the table.`)
          : h('div', { class: 'graph' }, dependencyGraph(workflow.tasks)),
      h('h2', {}, 'Tasks'),
      table(
        [{ label: 'task' }, { label: 'work request', num: true }, { label: 'state' }, { label: 'attempt', num: true }, { label: 'depends on' }, { label: 'worker' }, { label: 'started' }, { label: 'completed' }],
        workflow.tasks.map((task) => [
          task.task_id,
          h('a', { href: link('requests', [task.work_request_id]) }, task.work_request_id),
          badge(taskState(task)),
          task.attempt,
          task.depends_on.join(', '),
          task.worker ?? '',
          formatTime(task.started_at),
          formatTime(task.completed_at),
        ]),
        { 'data-table': 'workflow-tasks' },
      ),
    );
  };
  await load();
  every(3000, signal, load);
}
