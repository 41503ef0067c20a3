// Latency histograms: HDR (hdr-histogram-js) in microseconds, 3 significant digits, up to 60 s.
// Workers send theirs encoded; the main thread merges them and reads percentiles in milliseconds.
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from "hdr-histogram-js";

const HIGHEST_TRACKABLE_US = 60_000_000;

export function newLatencyHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_TRACKABLE_US, numberOfSignificantValueDigits: 3 });
}

export const encodeHistogram = (histogram: Histogram): string => encodeIntoCompressedBase64(histogram);

export function mergeEncodedHistograms(encoded: readonly string[]): Histogram {
  const merged = newLatencyHistogram();
  for (const one of encoded) {
    const decoded = decodeFromCompressedBase64(one);
    merged.add(decoded);
    decoded.destroy();
  }
  return merged;
}

export interface LatencySummaryMs {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

const toMs = (us: number): number => Math.round(us) / 1000;

export function summarizeLatency(histogram: Histogram): LatencySummaryMs {
  return {
    p50: toMs(histogram.getValueAtPercentile(50)),
    p90: toMs(histogram.getValueAtPercentile(90)),
    p99: toMs(histogram.getValueAtPercentile(99)),
    p999: toMs(histogram.getValueAtPercentile(99.9)),
    max: toMs(histogram.maxValue),
    mean: toMs(histogram.mean),
  };
}
