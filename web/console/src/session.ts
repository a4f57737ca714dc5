/**
 * Who is signed in: a project with its token (the user view), or an operator with an operator token
 * (review and workers). Kept in sessionStorage (gone with the tab) and sent only in headers — never in
 * a URL, where it would end up in logs and history.
 */
export type Session =
  | { readonly kind: "project"; readonly projectId: string; readonly token: string }
  | { readonly kind: "operator"; readonly token: string };

const KEY = "doppel.console.session";

export function loadSession(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (raw === null) return undefined;
    const value = JSON.parse(raw) as Record<string, unknown>;
    if (typeof value.token !== "string") return undefined;
    if (value.kind === "operator") return { kind: "operator", token: value.token };
    return typeof value.projectId === "string"
      ? { kind: "project", projectId: value.projectId, token: value.token }
      : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(session: Session | undefined): void {
  if (session === undefined) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, JSON.stringify(session));
}
