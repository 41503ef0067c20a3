// Reads an OTLP ExportTraceServiceRequest in the protobuf encoding (what OTLP/HTTP with
// `application/x-protobuf` carries, the OpenTelemetry default) into the same shape as its JSON
// encoding, for the test receiver: only the fields the tests look at. Field numbers are those of
// opentelemetry/proto/{collector/trace,trace,common,resource}/v1/*.proto.

export interface OtlpAnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
export interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: OtlpKeyValue[];
  status: { code?: number };
}
export interface OtlpTraceRequest {
  resourceSpans: Array<{ resource?: { attributes?: OtlpKeyValue[] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
}

/** One field: its number, and its value (a number for varints and fixed ints, bytes for length-delimited). */
type Field = { n: number; wire: 0; value: bigint } | { n: number; wire: 1 | 5; bytes: Uint8Array } | { n: number; wire: 2; bytes: Uint8Array };

function* fields(buf: Uint8Array): Generator<Field> {
  let i = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error("truncated varint");
      const b = buf[i++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const n = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) yield { n, wire, value: varint() };
    else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      yield { n, wire, bytes: buf.subarray(i, i + size) };
      i += size;
    } else if (wire === 2) {
      const size = Number(varint());
      if (i + size > buf.length) throw new Error("truncated field");
      yield { n, wire, bytes: buf.subarray(i, i + size) };
      i += size;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
}

const text = (b: Uint8Array): string => Buffer.from(b).toString("utf8");
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytesOf = (f: Field): Uint8Array => ("bytes" in f ? f.bytes : new Uint8Array());

function anyValue(buf: Uint8Array): OtlpAnyValue {
  for (const f of fields(buf)) {
    if (f.n === 1 && f.wire === 2) return { stringValue: text(f.bytes) };
    if (f.n === 2 && f.wire === 0) return { boolValue: f.value !== 0n };
    if (f.n === 3 && f.wire === 0) return { intValue: BigInt.asIntN(64, f.value).toString() };
    if (f.n === 4 && f.wire === 1) return { doubleValue: Buffer.from(f.bytes).readDoubleLE(0) };
  }
  return {};
}

function keyValue(buf: Uint8Array): OtlpKeyValue {
  let key = "";
  let value: OtlpAnyValue = {};
  for (const f of fields(buf)) {
    if (f.n === 1) key = text(bytesOf(f));
    else if (f.n === 2) value = anyValue(bytesOf(f));
  }
  return { key, value };
}

function span(buf: Uint8Array): OtlpSpan {
  const s: OtlpSpan = { traceId: "", spanId: "", name: "", kind: 0, attributes: [], status: {} };
  for (const f of fields(buf)) {
    if (f.n === 1) s.traceId = hex(bytesOf(f));
    else if (f.n === 2) s.spanId = hex(bytesOf(f));
    else if (f.n === 4 && bytesOf(f).length > 0) s.parentSpanId = hex(bytesOf(f));
    else if (f.n === 5) s.name = text(bytesOf(f));
    else if (f.n === 6 && f.wire === 0) s.kind = Number(f.value);
    else if (f.n === 9) s.attributes.push(keyValue(bytesOf(f)));
    else if (f.n === 15) {
      for (const g of fields(bytesOf(f))) if (g.n === 3 && g.wire === 0) s.status = { code: Number(g.value) };
    }
  }
  return s;
}

export function decodeTraceRequest(body: Uint8Array): OtlpTraceRequest {
  const resourceSpans: OtlpTraceRequest["resourceSpans"] = [];
  for (const rs of fields(body)) {
    if (rs.n !== 1) continue;
    const entry: OtlpTraceRequest["resourceSpans"][number] = { scopeSpans: [] };
    for (const f of fields(bytesOf(rs))) {
      if (f.n === 1) entry.resource = { attributes: [...fields(bytesOf(f))].filter((a) => a.n === 1).map((a) => keyValue(bytesOf(a))) };
      else if (f.n === 2) entry.scopeSpans.push({ spans: [...fields(bytesOf(f))].filter((s) => s.n === 2).map((s) => span(bytesOf(s))) });
    }
    resourceSpans.push(entry);
  }
  return { resourceSpans };
}

/** The number of spans in a request, without decoding them (the benchmark's counting receiver). */
export function countSpans(body: Uint8Array): number {
  let count = 0;
  for (const rs of fields(body)) {
    if (rs.n !== 1) continue;
    for (const ss of fields(bytesOf(rs))) {
      if (ss.n !== 2) continue;
      for (const s of fields(bytesOf(ss))) if (s.n === 2) count++;
    }
  }
  return count;
}
