import type {ChannelMap, Grouping, Keep} from '../graph';
import type {CallMaps} from '../graph';

/** Which units of each space are kept: kept[space][unit]. Plain data. */
export type Kept = boolean[][];

/** Kept, read only: what the functions that only read it take. */
export type KeptView = readonly (readonly boolean[])[];

/** Every unit of every space kept. */
export const allKept = (g: Grouping): Kept => g.spaces.map((s) => new Array<boolean>(s.units).fill(true));

/** Kept channel indices of member m (unit k = channels [k*c/units, (k+1)*c/units)). */
export function keptChannels(g: Grouping, kept: KeptView, m: number): number[] {
  const s = g.spaceOf[m];
  const per = g.members[m].channels / g.spaces[s].units;
  const out: number[] = [];
  kept[s].forEach((on, k) => { if (on) for (let j = 0; j < per; j++) out.push(k * per + j); });
  return out;
}

/** Kept features of a tensor with this map (spatial repeats outer, channels inner). */
export function keptFeatures(g: Grouping, kept: KeptView, map: ChannelMap): number[] {
  const channels: number[] = [];
  let offset = 0;
  for (const m of map.segments) {
    for (const c of keptChannels(g, kept, m)) channels.push(offset + c);
    offset += g.members[m].channels;
  }
  const out: number[] = [];
  for (let p = 0; p < map.spatial; p++) for (const c of channels) out.push(p * offset + c);
  return out;
}

/** Kept input features and output channels of one call. */
export const keepOf = (g: Grouping, kept: KeptView, c: CallMaps): Keep => ({
  input: c.inputs.length ? keptFeatures(g, kept, c.inputs[0]) : [],
  output: keptFeatures(g, kept, c.output),
});

/** Mask over a consumer's input channels (no spatial repeats): 1 kept, 0 pruned. */
export function maskOf(g: Grouping, kept: KeptView, map: ChannelMap): Float32Array {
  const total = map.segments.reduce((s, m) => s + g.members[m].channels, 0);
  const mask = new Float32Array(total);
  keptFeatures(g, kept, {segments: map.segments, spatial: 1}).forEach((i) => { mask[i] = 1; });
  return mask;
}
