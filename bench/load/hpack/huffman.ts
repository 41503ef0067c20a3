// HPACK Huffman decoding (RFC 7541 §5.2, Appendix B). The code is canonical, so the per-symbol code
// lengths are enough to rebuild it: codes of each length are consecutive, in symbol order.

/** Code length in bits of symbols 0..255 and EOS (256), from RFC 7541 Appendix B. */
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30, // EOS
];
const EOS = 256;
const MAX_LENGTH = 30;

interface CanonicalCode {
  /** First code of each length. */
  firstCode: number[];
  /** How many codes have each length. */
  count: number[];
  /** Index into `symbols` of the first symbol of each length. */
  firstIndex: number[];
  /** Symbols ordered by (length, symbol). */
  symbols: number[];
}

function buildCanonicalCode(): CanonicalCode {
  const count = new Array<number>(MAX_LENGTH + 1).fill(0);
  for (const length of CODE_LENGTHS) count[length]!++;
  const symbols = CODE_LENGTHS.map((length, symbol) => ({ length, symbol }))
    .sort((a, b) => a.length - b.length || a.symbol - b.symbol)
    .map((entry) => entry.symbol);
  const firstCode = new Array<number>(MAX_LENGTH + 1).fill(0);
  const firstIndex = new Array<number>(MAX_LENGTH + 1).fill(0);
  let code = 0;
  let index = 0;
  for (let length = 1; length <= MAX_LENGTH; length++) {
    firstCode[length] = code;
    firstIndex[length] = index;
    code = (code + count[length]!) * 2;
    index += count[length]!;
  }
  return { firstCode, count, firstIndex, symbols };
}

const CODE = buildCanonicalCode();

/** Decodes a Huffman-coded HPACK string. Throws on EOS inside the data or bad padding. */
export function decodeHuffman(bytes: Uint8Array): string {
  const out: number[] = [];
  let code = 0;
  let length = 0;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      length++;
      const offset = code - CODE.firstCode[length]!;
      if (offset >= 0 && offset < CODE.count[length]!) {
        const symbol = CODE.symbols[CODE.firstIndex[length]! + offset]!;
        if (symbol === EOS) throw new Error("HPACK: EOS in Huffman string");
        out.push(symbol);
        code = 0;
        length = 0;
      } else if (length > MAX_LENGTH) {
        throw new Error("HPACK: invalid Huffman code");
      }
    }
  }
  // Padding: at most 7 bits, all ones (the EOS prefix).
  if (length > 7 || code !== 2 ** length - 1) throw new Error("HPACK: invalid Huffman padding");
  return Buffer.from(out).toString("latin1");
}
