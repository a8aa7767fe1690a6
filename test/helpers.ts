import {group} from '../src/graph';
import {allKept, Kept} from '../src/prune';

/** Drop about 40% of the units of every prunable space (never all), from a seeded generator. */
export function randomKept(g: ReturnType<typeof group>, seed: number): Kept {
  const kept = allKept(g);
  let r = seed;
  const rand = (): number => ((r = (r * 16807) % 2147483647) / 2147483647);
  g.spaces.forEach((s, i) => {
    if (!s.prunable) return;
    for (let k = 0; k < s.units; k++) if (rand() < 0.4) kept[i][k] = false;
    if (!kept[i].some(Boolean)) kept[i][Math.floor(rand() * s.units)] = true;
  });
  return kept;
}
