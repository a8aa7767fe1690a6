import type {Space} from '../graph';
import type {Figure, Trace} from './figure';
import {heightForRows, legendAbove, neutral, spaceColor} from './layout';

/** How a layer takes part in a channel space. */
type Role = 'producer' | 'consumer' | 'passes through' | 'model input';

const roleSymbol: Record<Role, string> = {producer: 'circle', consumer: 'square', 'passes through': 'diamond', 'model input': 'triangle-up'};

// producer and consumer at once: a depthwise conv, whose channels pass through; a member that is neither: a model input.
function roles(s: Space): {layer: string; role: Role}[] {
  const layers = [...new Set([...s.producers, ...s.consumers, ...s.members.map((m) => m.layer)])];
  return layers.map((layer) => {
    const [p, c] = [s.producers.includes(layer), s.consumers.includes(layer)];
    return {layer, role: p && c ? 'passes through' : p ? 'producer' : c ? 'consumer' : 'model input'};
  });
}

// a legend key: no points, grey, the symbol of a role (open: fixed space)
const key = (name: string, symbol: string): Trace =>
  ({type: 'scatter', mode: 'markers', name, x: [null], y: [null], marker: {size: 10, color: neutral, symbol, line: {width: 2, color: neutral}}, hoverinfo: 'skip'});

/**
 * Which layers share each channel space: one mark per (layer, space), coloured by spaceColor(), its symbol the
 * layer's role, open when the space is fixed. Layers are listed in `opts.layers` order (e.g. `model.layers.map((l) => l.name)`),
 * else by the space they write.
 * @example show(groupStructure(p.group(), {layers: model.layers.map((l) => l.name)}));
 */
export function groupStructure(spaces: Space[], opts: {layers?: string[]} = {}): Figure {
  const marks = spaces.map((s) => ({space: s, marks: roles(s)}));
  const present = new Set(marks.flatMap((m) => m.marks.map((r) => r.layer)));
  const written = marks.flatMap((m) => m.marks.filter((r) => r.role !== 'consumer').map((r) => r.layer));
  const order = [...new Set([...(opts.layers ?? []).filter((l) => present.has(l)), ...written, ...present])];
  const data: Trace[] = marks.map(({space: s, marks: ms}) => ({
    type: 'scatter', mode: 'markers', name: `space ${s.id}`, x: ms.map(() => s.id), y: ms.map((m) => m.layer),
    text: ms.map((m) => `${m.layer}: ${m.role} of space ${s.id}<br>${s.channels} ch, ${s.units} units` + (s.reason ? `<br>fixed: ${s.reason}` : '')),
    hoverinfo: 'text', showlegend: false,
    marker: {size: 10, color: spaceColor(s.id), symbol: ms.map((m) => roleSymbol[m.role] + (s.prunable ? '' : '-open')), line: {width: 2, color: spaceColor(s.id)}},
  }));
  const used = new Set(marks.flatMap((m) => m.marks.map((r) => r.role)));
  const keys = (Object.keys(roleSymbol) as Role[]).filter((r) => used.has(r)).map((r) => key(r, roleSymbol[r]));
  if (spaces.some((s) => !s.prunable)) keys.push(key('open: fixed space', 'circle-open'));
  return {
    data: [...data, ...keys],
    layout: {
      title: {text: `Channel spaces: ${spaces.filter((s) => s.prunable).length} of ${spaces.length} prunable`},
      height: heightForRows(order.length),
      legend: legendAbove,
      xaxis: {title: {text: 'channel space (colour: space)'}, dtick: spaces.length > 40 ? 5 : 1, range: [-0.6, Math.max(0, ...spaces.map((s) => s.id)) + 0.6], zeroline: false},
      yaxis: {type: 'category', categoryorder: 'array', categoryarray: order, autorange: 'reversed', automargin: true, ticksuffix: ' '},
    },
  };
}
