/**
 * Who is signed in: a project and its token, kept in sessionStorage (gone with the tab) and sent only
 * in the X-Auth-Token header — never in a URL, where it would end up in logs and history.
 */
export interface Session {
  readonly projectId: string;
  readonly token: string;
}

const KEY = "doppel.console.session";

export function loadSession(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (raw === null) return undefined;
    const value = JSON.parse(raw) as Partial<Session>;
    return typeof value.projectId === "string" && typeof value.token === "string"
      ? { projectId: value.projectId, token: value.token }
      : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(session: Session | undefined): void {
  if (session === undefined) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, JSON.stringify(session));
}
