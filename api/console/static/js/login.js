// The login form: OAuth2 password flow; the API answers with a token and sets the
// httponly cookie the console (and its event stream) then uses.
const form = document.getElementById('login');
const error = document.getElementById('login-error');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  const body = new URLSearchParams({
    username: form.username.value.trim(),
    password: form.password.value,
  });
  form.querySelector('button').disabled = true;
  try {
    const response = await fetch('/auth/token', { method: 'POST', body, credentials: 'same-origin' });
    if (response.ok) {
      location.replace('/' + (location.hash || ''));
      return;
    }
    const problem = await response.json().catch(() => ({}));
    error.textContent = problem.detail || `Log in failed (${response.status})`;
  } catch (e) {
    error.textContent = `The server cannot be reached: ${e.message}`;
  } finally {
    form.querySelector('button').disabled = false;
  }
  error.hidden = false;
});
// Only now does submitting go through this handler: tools driving the page wait for this mark
// (a click before it would be the browser's own form submission).
form.dataset.ready = 'true';
