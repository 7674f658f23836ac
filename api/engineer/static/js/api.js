// The app's HTTP client: same-origin fetch with the login cookie (the console's). No
// network is an Offline error, so callers can queue or fall back on what they last read;
// the API's own message comes back as ApiError. A 401 tells the shell to show the login.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

export class Offline extends Error {}

export async function request(path, { method = 'GET', json, form, headers = {} } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;  // multipart: the browser sets the boundary
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new Offline(error.message);
  }
  if (response.status === 401) window.dispatchEvent(new CustomEvent('pilecare:logged-out'));
  return response;
}

export async function api(path, options) {
  const response = await request(path, options);
  if (!response.ok) throw new ApiError(response.status, await detailOf(response));
  return response.status === 204 ? null : response.json();
}

export async function detailOf(response) {
  const body = await response.json().catch(() => ({}));
  const detail = body.detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join('.')}: ${d.msg}`).join('; ');
  return detail || `HTTP ${response.status}`;
}
