import { readMaybeGzip } from './read_bytes';

/** Element types of the IDX format (magic byte 3). */
export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed array each IDX element type decodes to. */
export interface IdxArrays {
  uint8: Uint8Array; int8: Int8Array; int16: Int16Array;
  int32: Int32Array; float32: Float32Array; float64: Float64Array;
}

/** A decoded IDX file: row-major `data` with shape `dims`. */
export interface IdxArray<D extends IdxDType = IdxDType> {
  dtype: D;
  dims: number[];
  data: IdxArrays[D];
}

interface DTypeSpec<D extends IdxDType> {
  code: number;   // magic byte 3
  bytes: number;  // element size
  decode: (bytes: Uint8Array, offset: number, count: number) => IdxArrays[D];
}

// IDX stores multi-byte elements big-endian.
function bigEndian<A extends { [i: number]: number }>(
  make: (n: number) => A, size: number, get: (v: DataView, at: number) => number,
): (bytes: Uint8Array, offset: number, count: number) => A {
  return (bytes, offset, count) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * size);
    const out = make(count);
    for (let i = 0; i < count; i++) out[i] = get(view, i * size);
    return out;
  };
}

const DTYPES: { [D in IdxDType]: DTypeSpec<D> } = {
  uint8: { code: 0x08, bytes: 1, decode: (b, o, n) => new Uint8Array(b.subarray(o, o + n)) },
  int8: { code: 0x09, bytes: 1, decode: (b, o, n) => new Int8Array(b.subarray(o, o + n)) },
  int16: { code: 0x0b, bytes: 2, decode: bigEndian((n) => new Int16Array(n), 2, (v, at) => v.getInt16(at)) },
  int32: { code: 0x0c, bytes: 4, decode: bigEndian((n) => new Int32Array(n), 4, (v, at) => v.getInt32(at)) },
  float32: { code: 0x0d, bytes: 4, decode: bigEndian((n) => new Float32Array(n), 4, (v, at) => v.getFloat32(at)) },
  float64: { code: 0x0e, bytes: 8, decode: bigEndian((n) => new Float64Array(n), 8, (v, at) => v.getFloat64(at)) },
};

const DTYPE_BY_CODE = new Map(
  (Object.keys(DTYPES) as IdxDType[]).map((d) => [DTYPES[d].code, d] as const),
);

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What an IDX reader expects; omitted fields accept anything. */
export interface IdxExpect<D extends IdxDType = IdxDType> { dtype?: D; rank?: number }

function describeMagic(dtype: IdxDType | undefined, rank: number | undefined): string {
  const kind = rank === 1 ? 'labels, ' : rank === 3 ? 'images, ' : '';
  const dims = rank === undefined ? 'any rank' : plural(rank, 'dim');
  return `${kind}${dtype ?? 'any type'}, ${dims}`;
}

function expectedMagic(expect: IdxExpect): string {
  const { dtype, rank } = expect;
  const magic = dtype !== undefined && rank !== undefined ? `${hex((DTYPES[dtype].code << 8) | rank)} ` : '';
  return `IDX magic ${magic}(${describeMagic(dtype, rank)})`;
}

/** Decodes IDX bytes (already gunzipped); `source` names the file in errors.
 * @example const labels = parseIdx(bytes, 'labels.idx', {dtype: 'uint8', rank: 1}); // labels.dims = [n]
 */
export function parseIdx<D extends IdxDType = IdxDType>(bytes: Uint8Array, source: string, expect: IdxExpect<D> = {}): IdxArray<D> {
  const fail = (what: string): never => { throw new Error(`${source}: ${what}`); };
  if (bytes.length < 4) fail(`file is ${bytes.length} bytes long; expected an ${expectedMagic(expect)} header of at least 4 bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const magic = view.getUint32(0);
  const dtype = DTYPE_BY_CODE.get(bytes[2]);
  const rank = bytes[3];
  const isIdx = bytes[0] === 0 && bytes[1] === 0 && dtype !== undefined;
  if (!isIdx || (expect.dtype ?? dtype) !== dtype || (expect.rank ?? rank) !== rank) {
    const found = isIdx ? describeMagic(dtype, rank) : 'not IDX: bytes 0-1 must be 0 and byte 2 a type code 0x08, 0x09, 0x0b..0x0e';
    fail(`expected ${expectedMagic(expect)}, found ${hex(magic)} (${found})`);
  }
  const header = 4 + 4 * rank;
  if (bytes.length < header) fail(`truncated header: ${plural(rank, 'dim')} need ${header} bytes, file has ${bytes.length}`);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const spec = DTYPES[dtype as D];
  const count = dims.reduce((a, b) => a * b, 1);
  const want = header + count * spec.bytes;
  if (bytes.length !== want) {
    fail(`${bytes.length < want ? 'truncated' : 'trailing bytes'}: dims [${dims.join(', ')}] of ${dtype} need ${want} bytes (header ${header} + data ${count * spec.bytes}), file has ${bytes.length}`);
  }
  return { dtype: dtype as D, dims, data: spec.decode(bytes, header, count) };
}

/** Reads an IDX file (gzipped or raw, detected by the gzip magic) and checks it against `expect`.
 * @example const images = await readIdx('datasets/fashion-mnist/t10k-images-idx3-ubyte.gz', {dtype: 'uint8', rank: 3});
 */
export async function readIdx<D extends IdxDType = IdxDType>(file: string, expect: IdxExpect<D> = {}): Promise<IdxArray<D>> {
  const bytes = await readMaybeGzip(file, `an IDX file (${expectedMagic(expect)})`);
  return parseIdx(bytes, file, expect);
}
