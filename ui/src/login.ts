// The login page: a plain form (works without this script); the script only shows the
// "wrong token" message after a failed attempt.
import './style.css';

if (new URLSearchParams(location.search).has('failed')) {
  document.getElementById('login-error')?.removeAttribute('hidden');
}
