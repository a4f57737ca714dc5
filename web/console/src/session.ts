import type { AccessKey } from "./sdk-signer.js";

/**
 * Who is signed in: a project with a token or an access key (the user view), or an operator with an
 * operator token (review and workers). Kept in sessionStorage (gone with the tab) and sent only in
 * headers — never in a URL, where it would end up in logs and history. An access key's secret never
 * leaves the tab at all: requests carry its signature (SDK-HMAC-SHA256), as Huawei's SDK sends them.
 */
export type Session =
  | { readonly kind: "project"; readonly projectId: string; readonly token: string }
  | { readonly kind: "project"; readonly projectId: string; readonly accessKey: AccessKey }
  | { readonly kind: "operator"; readonly token: string };

const KEY = "doppel.console.session";

const text = (value: unknown): value is string => typeof value === "string" && value !== "";

export function loadSession(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (raw === null) return undefined;
    const value = JSON.parse(raw) as Record<string, unknown>;
    if (value.kind === "operator")
      return text(value.token) ? { kind: "operator", token: value.token } : undefined;
    if (value.kind !== "project" || !text(value.projectId)) return undefined;
    if (text(value.token)) return { kind: "project", projectId: value.projectId, token: value.token };
    const key = value.accessKey as Record<string, unknown> | undefined;
    return text(key?.accessKeyId) && text(key?.secretAccessKey)
      ? {
          kind: "project",
          projectId: value.projectId,
          accessKey: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
        }
      : undefined;
  } catch {
    return undefined;
  }
}
export function saveSession(session: Session | undefined): void {
  if (session === undefined) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, JSON.stringify(session));
}
