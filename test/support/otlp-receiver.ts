import http from "node:http";
import type { AddressInfo } from "node:net";
import { countSpans, decodeTraceRequest, type OtlpKeyValue, type OtlpTraceRequest } from "./otlp-protobuf.js";

/** A span as OTLP carries it, with its attributes flattened to plain values. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP's SpanKind: 2 server, 3 client. */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly status: { readonly code?: number };
  readonly resource: Readonly<Record<string, unknown>>;
}

function flatten(attributes: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of attributes ?? []) out[a.key] = a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : (a.value.boolValue ?? a.value.doubleValue));
  return out;
}

const PROTOBUF = "application/x-protobuf";
const JSON_TYPE = "application/json";

/**
 * A small OTLP/HTTP trace receiver, for both encodings the exporters send (protobuf, the default,
 * and JSON): POST /v1/traces, every span kept, and every raw body kept too (to search for secrets;
 * a protobuf body as latin1 text, in which an ASCII secret appears as it is). `contentTypes` counts
 * the requests of each encoding. With `keep: false` (the benchmark's collector) it only counts
 * requests and spans, decoding no span.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly bodies: string[] = [];
  readonly contentTypes = new Map<string, number>();
  requests = 0;
  spanCount = 0;
  readonly #server: http.Server;

  constructor(options: { keep?: boolean } = {}) {
    const keep = options.keep ?? true;
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const type = String(req.headers["content-type"]).split(";")[0]!.trim();
        if (req.method !== "POST" || req.url !== "/v1/traces" || (type !== PROTOBUF && type !== JSON_TYPE)) {
          res.writeHead(404).end();
          return;
        }
        this.requests++;
        this.contentTypes.set(type, (this.contentTypes.get(type) ?? 0) + 1);
        const body = Buffer.concat(chunks);
        const answer = () => (type === PROTOBUF ? res.writeHead(200, { "content-type": PROTOBUF }).end() : res.writeHead(200, { "content-type": JSON_TYPE }).end("{}"));
        if (!keep) {
          this.spanCount += type === PROTOBUF ? countSpans(body) : body.toString("utf8").split('"spanId":').length - 1;
          answer();
          return;
        }
        let parsed: OtlpTraceRequest;
        try {
          parsed = type === PROTOBUF ? decodeTraceRequest(body) : (JSON.parse(body.toString("utf8")) as OtlpTraceRequest);
        } catch {
          res.writeHead(400).end();
          return;
        }
        this.bodies.push(body.toString(type === PROTOBUF ? "latin1" : "utf8"));
        for (const rs of parsed.resourceSpans) {
          const resource = flatten(rs.resource?.attributes);
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              this.spanCount++;
              this.spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? "",
                name: s.name,
                kind: s.kind,
                attributes: flatten(s.attributes),
                status: s.status ?? {},
                resource,
              });
            }
          }
        }
        answer();
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
