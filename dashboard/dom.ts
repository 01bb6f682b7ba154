/** Small DOM helpers: every text goes in as a text node (never as HTML), so task output cannot inject markup. */
type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

export function badge(text: string | null | undefined): HTMLElement | string {
  return text ? h('span', { class: `badge ${text}` }, text) : '';
}

/** A table: header cells (a string, or a node for sortable ones) and rows of cells; `num` columns align right. */
export function table(columns: Array<{ label: string | Node; num?: boolean }>, rows: Child[][], attributes: Attributes = {}): HTMLTableElement {
  return h(
    'table',
    attributes,
    h('thead', {}, h('tr', {}, ...columns.map((column) => h('th', { class: column.num ? 'num' : null }, column.label)))),
    h('tbody', {}, ...rows.map((cells) => h('tr', {}, ...cells.map((cell, index) => h('td', { class: columns[index]?.num ? 'num' : null }, cell))))),
  );
}

/** A two-column table of labels and values. */
export function keyValues(rows: Array<[string, Child]>, attributes: Attributes = {}): HTMLTableElement {
  return h('table', { class: 'kv', ...attributes }, h('tbody', {}, ...rows.map(([label, value]) => h('tr', {}, h('th', {}, label), h('td', {}, value)))));
}

export function card(label: string, value: string | number, attributes: Attributes = {}): HTMLElement {
  return h('div', { class: 'card', ...attributes }, h('div', { class: 'value' }, value), h('div', { class: 'label' }, label));
}
