/**
 * COCO-format detection sets without an image codec.
 *
 * `<name>.json` is a COCO object (images, annotations with bbox [x, y, w, h] in pixels,
 * categories). Pixels live in raw files: each image entry's `file_name` names a file
 * relative to the JSON's folder holding uint8 pixels [height, width, channels] row-major
 * from byte `offset` (default 0); `channels` defaults to 1. writeCoco puts every image in
 * one `<name>.u8` file, image i at offset i * H * W * C. To bring your own set, decode each
 * image to raw bytes once (e.g. `convert img.png gray:img.raw` or numpy `.tofile`) and point
 * `file_name` (and `offset`) at them; all images must share one size. Category ids may be
 * any integers: class i is the i-th entry of `categories`.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { DetectionDataset } from './detection';

/** COCO image entry, plus where its raw pixels are. */
export interface CocoImage { id: number; width: number; height: number; file_name: string; offset?: number; channels?: number }
/** COCO annotation; bbox [x, y, w, h] in pixels. */
export interface CocoAnnotation { id: number; image_id: number; category_id: number; bbox: number[]; area?: number; iscrowd?: number }
/** COCO category; class i of the dataset is the i-th entry. */
export interface CocoCategory { id: number; name: string }
/** The JSON file's content. */
export interface CocoFile { images: CocoImage[]; annotations: CocoAnnotation[]; categories: CocoCategory[] }

/**
 * Writes `ds` as `file` (COCO JSON) plus its pixels as a raw uint8 file beside it; returns both paths.
 * @example await writeCoco(scenes, '/tmp/scenes.json'); // also writes /tmp/scenes.u8
 */
export async function writeCoco(ds: DetectionDataset, file: string): Promise<{ json: string; pixels: string }> {
  const [h, w, c] = ds.shape;
  const raw = `${path.basename(file, path.extname(file))}.u8`;
  const coco: CocoFile = { images: [], annotations: [], categories: [] };
  for (let k = 0; k < ds.classes; k++) coco.categories.push({ id: k + 1, name: ds.classNames?.[k] ?? `class${k}` });
  for (let i = 0; i < ds.size; i++) {
    coco.images.push({ id: i + 1, width: w, height: h, file_name: raw, offset: i * h * w * c, channels: c });
    const b = ds.boxes[i];
    ds.labels[i].forEach((label, j) => {
      const [x1, y1, x2, y2] = b.subarray(4 * j, 4 * j + 4);
      const bbox = [x1, y1, x2 - x1, y2 - y1];
      coco.annotations.push({ id: coco.annotations.length + 1, image_id: i + 1, category_id: label + 1, bbox, area: bbox[2] * bbox[3], iscrowd: 0 });
    });
  }
  const pixels = path.join(path.dirname(file), raw);
  await fs.writeFile(file, JSON.stringify(coco));
  await fs.writeFile(pixels, ds.images);
  return { json: file, pixels };
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/**
 * Reads a COCO JSON file and the raw pixel files it names (see the file comment for the layout).
 * Malformed entries throw an error naming the file, the image or annotation id and the field.
 * @example const ds = await readCoco('/tmp/scenes.json'); ds.boxes[0]; // [x1, y1, x2, y2, ...]
 */
export async function readCoco(file: string): Promise<DetectionDataset> {
  let coco: CocoFile;
  try {
    coco = JSON.parse(await fs.readFile(file, 'utf8')) as CocoFile;
  } catch (e) {
    throw new Error(`${file}: cannot read COCO JSON (${(e as Error).message})`);
  }
  for (const key of ['images', 'annotations', 'categories'] as const) {
    if (!Array.isArray(coco?.[key])) throw new Error(`${file}: field "${key}" must be an array`);
  }
  const classOf = new Map<number, number>();
  coco.categories.forEach((cat, k) => {
    if (!isInt(cat?.id)) throw new Error(`${file}: category #${k}: field "id" must be an integer, got ${JSON.stringify(cat?.id)}`);
    if (classOf.has(cat.id)) throw new Error(`${file}: category id ${cat.id}: field "id" is used twice`);
    classOf.set(cat.id, k);
  });
  if (classOf.size === 0) throw new Error(`${file}: field "categories" is empty; expected at least one {id, name}`);

  // images: one shape for all; pixels read from their raw files
  const imageIndex = new Map<number, number>();
  let shape: [number, number, number] | undefined;
  const rawFiles = new Map<string, Buffer>();
  const chunks: Uint8Array[] = [];
  for (const [k, img] of coco.images.entries()) {
    const at = isInt(img?.id) ? `image id ${img.id}` : `image #${k}`;
    const bad = (field: string, want: string, got: unknown): never => {
      throw new Error(`${file}: ${at}: field "${field}" ${want}, got ${JSON.stringify(got)}`);
    };
    if (!isInt(img?.id)) bad('id', 'must be an integer', img?.id);
    if (imageIndex.has(img.id)) bad('id', 'is used twice', img.id);
    if (!isInt(img.width) || img.width < 1) bad('width', 'must be a positive integer', img.width);
    if (!isInt(img.height) || img.height < 1) bad('height', 'must be a positive integer', img.height);
    if (typeof img.file_name !== 'string') bad('file_name', 'must name a raw uint8 pixel file', img.file_name);
    const offset = img.offset ?? 0;
    const channels = img.channels ?? 1;
    if (!isInt(offset) || offset < 0) bad('offset', 'must be a non-negative integer', img.offset);
    if (!isInt(channels) || channels < 1) bad('channels', 'must be a positive integer', img.channels);
    const s: [number, number, number] = [img.height, img.width, channels];
    shape ??= s;
    if (s.some((d, i) => d !== shape![i])) bad('width/height/channels', `must match the first image's [${shape}] (one size per set)`, s);
    const rawPath = path.resolve(path.dirname(file), img.file_name);
    if (!rawFiles.has(rawPath)) {
      try {
        rawFiles.set(rawPath, await fs.readFile(rawPath));
      } catch (e) {
        bad('file_name', `must name a readable raw pixel file (${(e as Error).message})`, img.file_name);
      }
    }
    const bytes = s[0] * s[1] * s[2];
    const raw = rawFiles.get(rawPath)!;
    if (offset + bytes > raw.length) bad('offset', `+ ${bytes} pixel bytes must fit in ${rawPath} (${raw.length} bytes)`, offset);
    chunks.push(raw.subarray(offset, offset + bytes));
    imageIndex.set(img.id, k);
  }
  if (shape === undefined) throw new Error(`${file}: field "images" is empty`);

  const boxes = coco.images.map(() => [] as number[]);
  const labels = coco.images.map(() => [] as number[]);
  for (const [k, a] of coco.annotations.entries()) {
    const at = isInt(a?.id) ? `annotation id ${a.id}` : `annotation #${k}`;
    const bad = (field: string, want: string, got: unknown): never => {
      throw new Error(`${file}: ${at}: field "${field}" ${want}, got ${JSON.stringify(got)}`);
    };
    if (!isInt(a?.id)) bad('id', 'must be an integer', a?.id);
    if (!isInt(a.image_id) || !imageIndex.has(a.image_id)) bad('image_id', 'must be the id of an entry of "images"', a.image_id);
    if (!isInt(a.category_id) || !classOf.has(a.category_id)) bad('category_id', `must be one of the category ids [${[...classOf.keys()]}]`, a.category_id);
    if ((a.iscrowd ?? 0) !== 0) bad('iscrowd', 'must be 0 or absent (crowd regions are not supported)', a.iscrowd);
    const b = a.bbox;
    if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      bad('bbox', 'must be 4 finite numbers [x, y, w, h]', b);
    }
    const [x, y, w, h] = b;
    const [ih, iw] = shape;
    if (!(w > 0 && h > 0)) bad('bbox', 'must have positive width and height', b);
    if (!(x >= 0 && y >= 0 && x + w <= iw && y + h <= ih)) bad('bbox', `must lie inside the ${iw}x${ih} image`, b);
    const i = imageIndex.get(a.image_id)!;
    boxes[i].push(x, y, x + w, y + h);
    labels[i].push(classOf.get(a.category_id)!);
  }

  const bytes = shape[0] * shape[1] * shape[2];
  const images = new Uint8Array(chunks.length * bytes);
  chunks.forEach((c, i) => images.set(c, i * bytes));
  return new DetectionDataset({
    name: path.basename(file), images, shape,
    boxes: boxes.map((b) => Float32Array.from(b)), labels: labels.map((l) => Int32Array.from(l)),
    classes: classOf.size, classNames: coco.categories.map((c, k) => (typeof c.name === 'string' ? c.name : `class${k}`)),
  });
}
