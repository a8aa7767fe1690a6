import * as tf from '@tensorflow/tfjs';
import {barrier, configOf, handlers} from './handlers';
import type {ChannelMap, GroupContext, LayerHandler} from './handlers';
import {Call, ModelGraph, readModel, refKey} from './model_graph';

/** A set of channels written by one layer (or a model input). */
export interface Member { layer: string; channels: number }

/** A channel space: channels that must be pruned together (docs/method.md §3). Plain data. */
export interface Space {
  id: number;
  /** Layers whose conv/FC outputs carry these channels. */
  producers: string[];
  /** Layers that read these channels through a mask. */
  consumers: string[];
  /** Channel sets coupled here, with their sizes. */
  members: Member[];
  /** Channels of the first member. */
  channels: number;
  /** Pruning units; unit k of a member is its channels [k*c/units, (k+1)*c/units). */
  units: number;
  /** Channels of the first member per unit (1, or the conv-group width). */
  unit: number;
  prunable: boolean;
  reason?: string;
}

/** One call as the pruner sees it: the channel maps of its input(s) and output. */
export interface CallMaps { call: Call; handler: LayerHandler; inputs: ChannelMap[]; output: ChannelMap }

/** Spaces of a model plus what pruning needs to find its channels again. */
export interface Grouping {
  graph: ModelGraph;
  spaces: Space[];
  members: Member[];
  /** Space index of each member. */
  spaceOf: number[];
  calls: CallMaps[];
  /** Layers with weights whose MACs no handler gives (barriers): a FLOPs ratio would leave them out. */
  uncosted: Uncosted[];
}

/** A layer with weights and no cost rule. */
export interface Uncosted { layer: string; className: string }

/** The handler a call is grouped and costed with: its class's (known), or a barrier saying why not (no MACs). */
function handlerFor(call: Call): {handler: LayerHandler; known: boolean} {
  const className = call.layer.getClassName();
  const handler = handlers[className];
  if (!handler || (call.outputShape.length === 0 && !handler.input)) {
    return {known: false, handler: barrier((l) => `layer "${l.name}" of class ${className} has no pruning rule (register one with registerHandler)`)};
  }
  if (configOf(call.layer).dataFormat === 'channelsFirst') {
    return {known: false, handler: barrier((l) => `layer "${l.name}" of class ${className} uses dataFormat 'channelsFirst' (only 'channelsLast' layers are pruned)`)};
  }
  return {known: true, handler};
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Build the channel spaces of a functional model with the handler table.
 * @example const {spaces} = group(model); spaces.filter((s) => s.prunable).length;
 */
export function group(model: tf.LayersModel): Grouping {
  const graph = readModel(model);
  const members: Member[] = [];
  const parent: number[] = [];
  const units: number[] = [];
  const reasons = new Map<number, string>();
  const memberOfLayer = new Map<string, number>();
  const find = (m: number): number => (parent[m] === m ? m : (parent[m] = find(parent[m])));
  const newMember = (layer: string, channels: number): number => {
    members.push({layer, channels});
    parent.push(members.length - 1);
    units.push(channels);
    return members.length - 1;
  };
  const block = (map: ChannelMap, reason: string): void => {
    for (const m of map.segments) if (!reasons.has(find(m))) reasons.set(find(m), reason);
  };
  const couple = (a: number, b: number, groups = 0): void => {
    const [ra, rb] = [find(a), find(b)];
    const u = gcd(gcd(units[ra], units[rb]), groups);
    parent[rb] = ra;
    units[ra] = u;
    const reason = reasons.get(ra) ?? reasons.get(rb);
    if (reason) reasons.set(ra, reason);
  };
  const coupleMaps = (a: ChannelMap, b: ChannelMap): void => {
    const same = a.spatial === b.spatial && a.segments.length === b.segments.length &&
      a.segments.every((m, i) => members[m].channels === members[b.segments[i]].channels);
    if (!same) {
      const reason = 'an elementwise merge joins tensors whose channels do not line up';
      block(a, reason);
      block(b, reason);
      return;
    }
    a.segments.forEach((m, i) => couple(m, b.segments[i]));
  };

  const maps = new Map<string, ChannelMap>();
  const firstInputs = new Map<string, ChannelMap[]>();
  const calls: CallMaps[] = [];
  const uncosted: Uncosted[] = [];
  for (const call of graph.calls) {
    const name = call.layer.name;
    const inputs = call.inputs.map((r) => maps.get(refKey(r)) as ChannelMap);
    const {handler, known} = handlerFor(call);
    if (!known && call.layer.weights.length > 0 && !uncosted.some((u) => u.layer === name)) {
      uncosted.push({layer: name, className: call.layer.getClassName()});
    }
    const ctx: GroupContext = {
      call, inputs, block, couple, coupleMaps,
      member: (channels) => memberOfLayer.get(name) ?? memberOfLayer.set(name, newMember(name, channels)).get(name) as number,
    };
    const output = handler.group(ctx);
    if (configOf(call.layer).activation === 'softmax') block(output, `layer "${name}" applies softmax across channels`);
    // a layer with weights called several times reads one set of channels at every call
    if (known && call.layer.weights.length > 0) {
      const first = firstInputs.get(name);
      if (first) first.forEach((m, i) => coupleMaps(m, inputs[i]));
      else firstInputs.set(name, inputs);
    }
    maps.set(refKey({layer: name, call: call.call, index: 0}), output);
    calls.push({call, handler, inputs, output});
  }
  for (const r of graph.outputs) block(maps.get(refKey(r)) as ChannelMap, `model output "${r.layer}"`);

  // roots in order of first member -> spaces
  const index = new Map<number, number>();
  const spaces: Space[] = [];
  const spaceOf = members.map((_, m) => {
    const root = find(m);
    if (!index.has(root)) {
      index.set(root, spaces.length);
      spaces.push({id: spaces.length, producers: [], consumers: [], members: [], channels: members[m].channels,
        units: units[root], unit: members[m].channels / units[root], prunable: true});
    }
    const s = spaces[index.get(root) as number];
    s.members.push(members[m]);
    return s.id;
  });
  const addOnce = (list: string[], name: string): void => { if (!list.includes(name)) list.push(name); };
  for (const c of calls) {
    const name = c.call.layer.name;
    if (c.handler.produces) for (const m of c.output.segments) addOnce(spaces[spaceOf[m]].producers, name);
    if (c.handler.consumes) for (const m of c.inputs[0].segments) addOnce(spaces[spaceOf[m]].consumers, name);
  }
  for (const [root, reason] of reasons) Object.assign(spaces[index.get(find(root)) as number], {prunable: false, reason});
  for (const s of spaces) {
    if (!s.prunable) continue;
    if (s.units < 2) Object.assign(s, {prunable: false, reason: 'a single unit (never pruned to zero)'});
    else if (s.consumers.length === 0) Object.assign(s, {prunable: false, reason: 'no layer reads these channels through a mask'});
  }
  return {graph, spaces, members, spaceOf, calls, uncosted};
}
