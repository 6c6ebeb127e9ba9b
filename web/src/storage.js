// This tab's sessionStorage, or null where the browser refuses it (a privacy mode, a sandboxed
// frame): the session, a hold and a waiting-room pass are kept there, and each lasts as long
// as the page without it.

export function sessionStore() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}
