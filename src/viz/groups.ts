import type {Space} from '../graph';
import type {Figure, Trace} from './figure';

/** How a layer takes part in a channel space. */
type Role = 'producer' | 'consumer' | 'passes through' | 'source';

const roleColor: Record<Role, string> = {producer: '#1f77b4', consumer: '#ff7f0e', 'passes through': '#2ca02c', source: '#7f7f7f'};

/** One (layer, space) membership. */
interface Mark { layer: string; space: Space; role: Role }

// producer and consumer at once: a depthwise conv, whose channels pass through; a member that is neither: a model input.
function marks(s: Space): Mark[] {
  const layers = [...new Set([...s.producers, ...s.consumers, ...s.members.map((m) => m.layer)])];
  return layers.map((layer) => {
    const [p, c] = [s.producers.includes(layer), s.consumers.includes(layer)];
    return {layer, space: s, role: p && c ? 'passes through' : p ? 'producer' : c ? 'consumer' : 'source'};
  });
}

/**
 * Which layers share each channel space: one mark per (layer, space), coloured by role, open when the space is fixed.
 * Layers are listed in `opts.layers` order (e.g. `model.layers.map((l) => l.name)`), else by the space they write.
 * @example show(groupStructure(p.group(), {layers: model.layers.map((l) => l.name)}));
 */
export function groupStructure(spaces: Space[], opts: {layers?: string[]} = {}): Figure {
  const all = spaces.flatMap(marks);
  const written = all.filter((m) => m.role !== 'consumer').map((m) => m.layer);
  const present = new Set(all.map((m) => m.layer));
  const order = [...new Set([...(opts.layers ?? []).filter((l) => present.has(l)), ...written, ...present])];
  const traces = new Map<string, Mark[]>();
  for (const m of all) {
    const key = `${m.role} · ${m.space.prunable ? 'prunable' : 'fixed'}`;
    traces.set(key, traces.get(key) ?? []);
    traces.get(key)!.push(m);
  }
  const data: Trace[] = [...traces].map(([name, ms]) => ({
    type: 'scatter', mode: 'markers', name, x: ms.map((m) => m.space.id), y: ms.map((m) => m.layer),
    text: ms.map((m) => `${m.layer}: ${m.role} of space ${m.space.id}<br>${m.space.channels} ch, ${m.space.units} units` +
      (m.space.reason ? `<br>fixed: ${m.space.reason}` : '')),
    hoverinfo: 'text',
    marker: {size: 10, color: roleColor[ms[0].role], symbol: ms[0].space.prunable ? 'circle' : 'circle-open', line: {width: 2, color: roleColor[ms[0].role]}},
  }));
  return {
    data,
    layout: {
      title: {text: `Channel spaces: ${spaces.filter((s) => s.prunable).length} of ${spaces.length} prunable`},
      height: 160 + 18 * order.length,
      xaxis: {title: {text: 'channel space'}, dtick: 1},
      yaxis: {type: 'category', categoryorder: 'array', categoryarray: order, autorange: 'reversed', automargin: true},
    },
  };
}
