import http from "node:http";
import type { AddressInfo } from "node:net";

/** A span as OTLP/JSON carries it, with its attributes flattened to plain values. */
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

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface KeyValue {
  key: string;
  value: AnyValue;
}

function flatten(attributes: KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of attributes ?? []) out[a.key] = a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : (a.value.boolValue ?? a.value.doubleValue));
  return out;
}

/**
 * A small OTLP/HTTP trace receiver (JSON, what @opentelemetry/exporter-trace-otlp-http sends):
 * POST /v1/traces, every span kept, and every raw body kept too (to search for secrets). With
 * `keep: false` (the benchmark's collector) it only counts requests and spans, parsing nothing.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly bodies: string[] = [];
  requests = 0;
  spanCount = 0;
  readonly #server: http.Server;

  constructor(options: { keep?: boolean } = {}) {
    const keep = options.keep ?? true;
    this.#server = http.createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => {
        if (req.method !== "POST" || req.url !== "/v1/traces" || !String(req.headers["content-type"]).startsWith("application/json")) {
          res.writeHead(404).end();
          return;
        }
        this.requests++;
        if (!keep) {
          this.spanCount += body.split('"spanId":').length - 1;
          res.writeHead(200, { "content-type": "application/json" }).end("{}");
          return;
        }
        this.bodies.push(body);
        const parsed = JSON.parse(body) as {
          resourceSpans: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }>;
        };
        for (const rs of parsed.resourceSpans) {
          const resource = flatten(rs.resource?.attributes);
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              this.spanCount++;
              this.spans.push({
                traceId: s.traceId as string,
                spanId: s.spanId as string,
                parentSpanId: (s.parentSpanId as string | undefined) ?? "",
                name: s.name as string,
                kind: s.kind as number,
                attributes: flatten(s.attributes as KeyValue[]),
                status: (s.status as { code?: number }) ?? {},
                resource,
              });
            }
          }
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
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
