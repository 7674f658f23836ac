// Live lists a click can trust. A list redrawn by a live event while someone aims at a
// row moves that row away, and the click lands on its neighbour (QA saw an Acknowledge hit
// the wrong alarm). So, while the pointer is over the list or focus is inside it, updates
// wait and a "N new — refresh" button says so; once the pointer leaves they are applied.
// Rows are patched in place by key: an unchanged row keeps its node (and any focus).
// As a last guard, a click on a row that moved since the button went down is dropped.
import { h } from './dom.js';

export class LiveList {
  // el: the list's container; load(): fetch and draw (it calls patch or replaces el).
  constructor(el, load, { noun = 'update' } = {}) {
    this.el = el;
    this.load = load;
    this.noun = noun;
    this.waiting = 0;
    this.notice = h('button', { type: 'button', class: 'btn btn-small live-pending', hidden: true,
      dataset: { testid: 'pending-updates' }, onclick: () => this.flush() });
    const release = () => { if (!this.held()) this.flush(); };
    el.addEventListener('pointerleave', () => setTimeout(release, 0));
    el.addEventListener('focusout', () => setTimeout(release, 0));
    this.guardMoves();
  }

  held() {
    return this.el.matches(':hover') || this.el.contains(document.activeElement);
  }

  // A live event arrived: draw now, or count it and wait while someone is aiming.
  request() {
    if (!this.held()) return this.load();
    this.waiting += 1;
    this.notice.textContent = `${this.waiting} new ${this.noun}${this.waiting === 1 ? '' : 's'} — refresh`;
    this.notice.hidden = false;
    return Promise.resolve();
  }

  flush() {
    if (!this.waiting) return Promise.resolve();
    this.waiting = 0;
    this.notice.hidden = true;
    return this.load();
  }

  // Redrawn by the user (filters, refresh): nothing waits any more.
  drawn() {
    this.waiting = 0;
    this.notice.hidden = true;
  }

  guardMoves() {
    let down = null;
    this.el.addEventListener('pointerdown', (e) => {
      const row = e.target.closest('[data-key]');
      down = row ? { row, key: row.dataset.key, top: row.getBoundingClientRect().top } : null;
    }, true);
    this.el.addEventListener('click', (e) => {
      const row = e.target.closest('[data-key]');
      if (!down || !row || e.detail === 0) return;  // keyboard clicks have nothing to miss
      const moved = row !== down.row || row.dataset.key !== down.key
        || Math.abs(row.getBoundingClientRect().top - down.top) > 1;
      down = null;
      if (moved) {
        e.preventDefault();
        e.stopImmediatePropagation();
      }
    }, true);
  }
}

// Replace the rows of `fresh` (a table built by dom.table) into the table in `el`, keeping
// the node of every row whose content has not changed. Rows need data-key.
export function patchTable(el, fresh) {
  const old = el.querySelector('tbody');
  const next = fresh.querySelector && fresh.querySelector('tbody');
  if (!old || !next) {
    el.replaceChildren(fresh);
    return;
  }
  const byKey = new Map([...old.rows].map((r) => [r.dataset.key, r]));
  const rows = [...next.rows].map((row) => {
    const kept = byKey.get(row.dataset.key);
    return kept && signature(kept) === signature(row) ? kept : row;
  });
  // Only touch the DOM where the order or a row changed.
  rows.forEach((row, i) => { if (old.rows[i] !== row) old.insertBefore(row, old.rows[i] || null); });
  while (old.rows.length > rows.length) old.deleteRow(rows.length);
}

function signature(row) {
  return `${row.className}|${JSON.stringify(row.dataset)}|${row.textContent}|${row.querySelectorAll('button,a').length}`;
}
