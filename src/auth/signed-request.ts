/**
 * What a signature verifier needs to know about a request and about the world. Verifiers are pure
 * functions of these, so they are tested without HTTP and shared by every route.
 */

/** The parts of an HTTP request that signatures cover, exactly as received. */
export interface IncomingSignedRequest {
  readonly method: string;
  /** Path as received (still percent-encoded), without the query string. */
  readonly path: string;
  /** Query string as received, without the leading `?` (may be empty). */
  readonly rawQuery: string;
  /** Header names lowercased; repeated headers joined with `,`. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The raw body bytes (empty for GET). */
  readonly body: Buffer;
}

/** What arrives before the body: the parts checked before a server reads (or refuses to read) it. */
export type SignedRequestHead = Omit<IncomingSignedRequest, "body">;

/** An access key as the verifiers need it: the decrypted secret and its project. */
export interface AccessKeyRecord {
  readonly accessKeyId: string;
  readonly secret: string;
  readonly projectId: string;
}

/** Who made a request, once it is authenticated. */
export interface Principal {
  readonly projectId: string;
  readonly accessKeyId: string | null;
  readonly scheme: "SDK-HMAC-SHA256" | "ACS3-HMAC-SHA256" | "HMAC-SHA1" | "TOKEN";
}

export interface VerifierDeps {
  /** Finds an enabled access key, or undefined. */
  readonly findAccessKey: (accessKeyId: string) => Promise<AccessKeyRecord | undefined>;
  /** Records a nonce; false when it was already used (replay). */
  readonly claimNonce: (accessKeyId: string, nonce: string, expiresAtMs: number) => Promise<boolean>;
  /** Current time in epoch milliseconds (injected so tests control the clock). */
  readonly now: () => number;
  /** Largest allowed distance between the request time and `now()`, in milliseconds. */
  readonly maxClockSkewMs: number;
}

/** 15 minutes, the skew both clouds tolerate. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
