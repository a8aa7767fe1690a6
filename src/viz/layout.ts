/**
 * Colour of channel space `id`, the same in every chart: hues a golden angle apart, so neighbouring (by depth)
 * spaces differ most and no two spaces share a colour however many there are; lightness alternates in threes.
 * @example spaceColor(0) // 'hsl(210, 65%, 42%)'
 */
export function spaceColor(id: number): string {
  const hue = Math.round((210 + id * 137.508) % 360);
  return `hsl(${hue}, 65%, ${[42, 55, 34][id % 3]}%)`;
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

/** A horizontal legend above the plot, under the title: it never hides rows or needs a scrollbar. */
export const legendAbove = {orientation: 'h', x: 0, xanchor: 'left', y: 1.02, yanchor: 'bottom'} as const;
