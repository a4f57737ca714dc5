import http from "node:http";
import type { AddressInfo } from "node:net";

/** One request a receiver got: its headers and raw body, and the body parsed. */
export interface Received {
  readonly headers: Record<string, string>;
  readonly body: string;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are inspected field by field
  readonly json: any;
  readonly at: number;
}

/**
 * A real HTTP receiver on 127.0.0.1 for webhook tests: records every POST, answers what `answer`
 * says (200 by default; change it at any time).
 */
export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  answer: (request: Received) => number | Promise<number>;
  close(): Promise<void>;
}

export async function startReceiver(path = "/hook"): Promise<Receiver> {
  const received: Received[] = [];
  const receiver = {
    url: "",
    received,
    answer: (() => 200) as Receiver["answer"],
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")]),
      );
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const request = { headers, body, json, at: Date.now() };
      received.push(request);
      const status = await receiver.answer(request);
      res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : `status ${status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return receiver;
}
