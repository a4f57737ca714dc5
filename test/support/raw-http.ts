import http from "node:http";
import net from "node:net";

/** What one request over the keep-alive client got. */
export interface KeepAliveResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** Whether the request went over a connection an earlier request had used. */
  readonly reusedSocket: boolean;
}

/**
 * A client that keeps one connection alive and reuses it, as SDKs do: a request that leaves the
 * connection stuck makes the next one hang, which `request` turns into a failure after `hangMs`.
 */
export function keepAliveClient(hangMs = 10_000) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return {
    request(
      method: string,
      url: string,
      body?: Buffer,
      headers: Record<string, string> = {},
    ): Promise<KeepAliveResponse> {
      return new Promise((resolve, reject) => {
        const req = http.request(url, { method, agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString("utf8"),
              reusedSocket: req.reusedSocket,
            }),
          );
        });
        req.setTimeout(hangMs, () => req.destroy(new Error(`${method} ${url} hung for ${hangMs} ms`)));
        // The server may answer (and close) before the whole body is sent: that is not a failure.
        req.on("error", (error: NodeJS.ErrnoException) => {
          if (error.code !== "EPIPE" && error.code !== "ECONNRESET") reject(error);
        });
        req.end(body);
      });
    },
    close(): void {
      agent.destroy();
    },
  };
}

/** A raw connection to the server: everything it answers, and when it closed. */
export interface RawConnection {
  readonly socket: net.Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves with the time the server closed the connection (ms since it opened) or an error code. */
  readonly closed: Promise<{ afterMs: number; error?: string }>;
}

export function openRaw(baseUrl: string): Promise<RawConnection> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const opened = Date.now();
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    let error: string | undefined;
    socket.on("error", (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    const closed = new Promise<{ afterMs: number; error?: string }>((done) =>
      socket.on("close", () => done({ afterMs: Date.now() - opened, ...(error && { error }) })),
    );
    socket.once("connect", () =>
      resolve({ socket, received: () => Buffer.concat(chunks).toString("latin1"), closed }),
    );
    socket.once("error", reject);
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Races `promise` against `ms`; the test fails with `what` instead of waiting for vitest's timeout. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
