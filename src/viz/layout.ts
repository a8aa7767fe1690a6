// Plotly's Dark24 qualitative palette: 24 colours that read on white, neighbours far apart
const dark24 = ['#2E91E5', '#E15F99', '#1CA71C', '#FB0D0D', '#DA16FF', '#222A2A', '#B68100', '#750D86', '#EB663B', '#511CFB', '#00A08B', '#FB00D1',
  '#FC0080', '#B2828D', '#6C7C32', '#778AAE', '#862A16', '#A777F1', '#620042', '#1616A7', '#DA60CA', '#6C4516', '#0D2A63', '#AF0038'];

/**
 * Colour of channel space `id`, the same in every chart: Dark24 for the first 24 spaces, then hues a golden angle
 * apart (no two spaces share a colour however many there are; neighbours by depth differ most).
 * @example spaceColor(0) // '#2E91E5'
 */
export function spaceColor(id: number): string {
  if (id < dark24.length) return dark24[id];
  return `hsl(${Math.round((id * 137.508) % 360)}, 70%, ${[40, 28][id % 2]}%)`;
}

/** Grey for what belongs to no channel space (legend keys, the 'before' bars). */
export const neutral = '#9a9a9a';

/** What a chart needs around its rows (title, legend, x axis), in pixels. */
const framePx = 190;

/**
 * Height in pixels of a chart with `rows` category rows of `rowPx` each: every row label shows, with room for title, legend and x axis.
 * @example layout.height = heightForRows(spaces.length);
 */
export const heightForRows = (rows: number, rowPx = 22): number => Math.max(360, framePx + rowPx * rows);

/** A horizontal legend above the plot, under the title, for a few short entries (one line): it never hides rows or needs a scrollbar. */
export const legendAbove = {orientation: 'h', x: 0, xanchor: 'left', y: 1.02, yanchor: 'bottom'} as const;
