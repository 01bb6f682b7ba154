import { ApiError, apiOffer, checkToken, whenUnauthorized } from './api.js';
import { h, replaceChildren } from './dom.js';
import { overviewPage } from './pages/overview.js';
import { runDetailPage, runsPage } from './pages/runs.js';
import { schedulesPage } from './pages/schedules.js';
import { taskKeyPage } from './pages/taskKey.js';
import { tasksPage } from './pages/tasks.js';
import { workersPage } from './pages/workers.js';
import { workflowDetailPage, workflowsPage } from './pages/workflows.js';
import { workRequestDetailPage } from './pages/workRequestDetail.js';
import { workRequestsPage } from './pages/workRequests.js';
import { link, parseHash, type Page } from './router.js';
import { forgetToken, readToken, saveToken } from './session.js';

/** The pages in the navigation, by the name in the hash (#/name/…). */
const NAVIGATION: Array<{ name: string; label: string }> = [
  { name: 'overview', label: 'Overview' },
  { name: 'requests', label: 'Work requests' },
  { name: 'workers', label: 'Workers' },
  { name: 'tasks', label: 'Tasks' },
  { name: 'workflows', label: 'Workflows' },
  { name: 'runs', label: 'Runs' },
  { name: 'schedules', label: 'Schedules' },
];

function pageFor(name: string, rest: string[]): Page | null {
  if (name === 'overview') return overviewPage;
  if (name === 'requests') return rest.length ? workRequestDetailPage : workRequestsPage;
  if (name === 'workers') return workersPage;
  if (name === 'tasks') return rest[0] === 'key' ? taskKeyPage : tasksPage;
  if (name === 'workflows') return rest.length ? workflowDetailPage : workflowsPage;
  if (name === 'runs') return rest.length ? runDetailPage : runsPage;
  if (name === 'schedules') return schedulesPage;
  return null;
}

const login = document.getElementById('login') as HTMLElement;
const app = document.getElementById('app') as HTMLElement;
const top = document.getElementById('top') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const loginError = document.getElementById('login-error') as HTMLElement;
let leaving: AbortController | null = null;

function showLogin(message = ''): void {
  leaving?.abort();
  leaving = null;
  top.hidden = true;
  app.hidden = true;
  login.hidden = false;
  loginError.textContent = message;
  (document.getElementById('token') as HTMLInputElement).focus();
}

async function showPage(): Promise<void> {
  if (!readToken()) return showLogin();
  leaving?.abort();
  const controller = new AbortController();
  leaving = controller;
  login.hidden = true;
  top.hidden = false;
  app.hidden = false;
  const { name, rest, params } = parseHash(location.hash);
  replaceChildren(nav, ...NAVIGATION.map((item) => h('a', { href: link(item.name), class: item.name === name ? 'current' : null }, item.label)));
  const page = pageFor(name, rest);
  const root = h('div', { 'data-page': name + (rest.length ? '-detail' : '') });
  replaceChildren(app, root);
  if (!page) {
    replaceChildren(root, h('h1', {}, 'Not found'), h('p', {}, `There is no page "${name}".`));
    return;
  }
  try {
    await page({ root, rest, params, signal: controller.signal, offer: apiOffer() });
    root.setAttribute('data-loaded', 'true');
  } catch (error) {
    if (controller.signal.aborted) return;
    if (error instanceof ApiError && error.status === 401) return;
    replaceChildren(root, h('h1', {}, 'Could not show this page'), h('p', { class: 'error', 'data-error': '' }, error instanceof Error ? error.message : String(error)));
  }
}

whenUnauthorized((message) => showLogin(`Signed out: ${message}`));
// Read while the first page loads (pages that offer actions need it).
void apiOffer();

(document.getElementById('login-form') as HTMLFormElement).addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('token') as HTMLInputElement;
  const token = input.value.trim();
  checkToken(token).then(
    () => {
      saveToken(token);
      input.value = '';
      loginError.textContent = '';
      void showPage();
    },
    (error: unknown) => {
      loginError.textContent = error instanceof ApiError && (error.status === 401 || error.status === 403)
        ? `That token was refused (${error.message}). The dashboard needs an operator or admin token.`
        : `Could not reach the server: ${error instanceof Error ? error.message : String(error)}`;
    },
  );
});

(document.getElementById('sign-out') as HTMLButtonElement).addEventListener('click', () => {
  forgetToken();
  showLogin('Signed out.');
});

window.addEventListener('hashchange', () => void showPage());
void showPage();
