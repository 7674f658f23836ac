// CSV and XLSX downloads of a list as the page shows it. The API answers any list endpoint
// with ?format=csv|xlsx as a file of every row matching the filters, not just the rows on
// screen (docs/exports.md). The login is a cookie, so the links are plain links (copy,
// middle-click); a click fetches the file instead, so that a refusal (more rows than an
// export holds) is said next to the links rather than as a failed download.
import { query } from './api.js';
import { h } from './dom.js';

export const FORMATS = ['csv', 'xlsx'];

// The file's URL: the list's filters; a page's limit and offset mean nothing to a file.
export function exportUrl(apiPath, params, format) {
  const { limit, offset, format: ignored, ...filters } = params || {};
  return `${apiPath}${query({ ...filters, format })}`;
}

// apiPath: the list's endpoint; params: its filters, or a function giving the page's current
// ones (read again at every click, so the file follows the filters as they are changed).
export function exportLinks(apiPath, params = {}) {
  const current = () => (typeof params === 'function' ? params() : params);
  const message = h('span', { class: 'export-message', role: 'status' });
  const links = FORMATS.map((format) => {
    const a = h('a', { class: 'btn btn-small', href: exportUrl(apiPath, current(), format), download: '',
      dataset: { format }, title: `Every matching row as ${format.toUpperCase()}` }, format.toUpperCase());
    const refresh = () => { a.href = exportUrl(apiPath, current(), format); };
    a.addEventListener('pointerenter', refresh);
    a.addEventListener('focus', refresh);
    a.addEventListener('click', (e) => {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.button) return;  // the browser's own ways with a link
      e.preventDefault();
      refresh();
      download(a, message);
    });
    return a;
  });
  return h('span', { class: 'export', dataset: { testid: 'export', api: apiPath } },
    h('span', { class: 'export-label' }, 'Export'), links, message);
}

async function download(a, message) {
  message.textContent = '';
  message.className = 'export-message';
  a.setAttribute('aria-busy', 'true');
  try {
    const response = await fetch(a.href, { credentials: 'same-origin' });
    if (response.status === 401) {
      location.replace('/login' + location.hash);
      return;
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.detail || `HTTP ${response.status}`);
    }
    const named = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') || '');
    const url = URL.createObjectURL(await response.blob());
    const save = h('a', { href: url, download: named ? named[1] : '', hidden: true });
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    message.textContent = error.message;
    message.className = 'export-message error';
  } finally {
    a.removeAttribute('aria-busy');
  }
}
