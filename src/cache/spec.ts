/**
 * Policy specs for command lines: `name` or `name:key=value,key=value`, composed with `+`. Values are numbers,
 * true/false, words, or lists separated by `/` (e.g. `hgc:fullSteps=0/3/6/9/12/16/19,gateStep=10`,
 * `deepCache:interval=3+tgate:gateStep=10`).
 */
import { HgcError } from '../errors.js';
import { compose } from './compose.js';
import type { CachePolicy } from './policy.js';
import { controlNetEvery } from './policies/controlnet-interval.js';
import { deepCache } from './policies/deepcache.js';
import { fasterDiffusion } from './policies/faster-diffusion.js';
import { hgc } from './policies/hgc.js';
import { none } from './policies/none.js';
import { tgate } from './policies/tgate.js';

type Options = Record<string, unknown>;

const factories: Record<string, (o: Options) => CachePolicy> = {
  none: () => none(),
  deepCache: (o) => deepCache(o),
  tgate: (o) => tgate(o),
  fasterDiffusion: (o) => fasterDiffusion(o),
  hgc: (o) => hgc(o),
  controlNetEvery: (o) => controlNetEvery(typeof o.n === 'number' ? o.n : 2),
};

/** The policy names a spec may use. */
export const policyNames = Object.freeze(Object.keys(factories));

function parseValue(v: string): unknown {
  if (v.includes('/')) return v.split('/').filter((x) => x !== '').map((x) => parseValue(x));
  if (v === 'true' || v === 'false') return v === 'true';
  if (v === 'Infinity') return Infinity;
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) ? n : v;
}

/** Parses a policy spec into a policy (HgcError ARG naming the bad part). */
export function parsePolicySpec(spec: string): CachePolicy {
  if (typeof spec !== 'string' || spec.trim() === '') throw new HgcError('ARG', 'policy spec is empty');
  const parts = spec.split('+').map((part) => {
    const [name, args] = part.trim().split(':', 2) as [string, string | undefined];
    const make = factories[name];
    if (!make) throw new HgcError('ARG', `unknown policy '${name}' (known: ${policyNames.join(', ')})`);
    const opts: Options = {};
    for (const kv of (args ?? '').split(',').filter((x) => x.trim() !== '')) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new HgcError('ARG', `policy option '${kv}' of '${name}' is not key=value`);
      const key = kv.slice(0, eq).trim();
      opts[key] = key === 'fullSteps' || key === 'keySteps' ? [parseValue(kv.slice(eq + 1).trim())].flat() : parseValue(kv.slice(eq + 1).trim());
    }
    return make(opts);
  });
  return parts.length === 1 ? parts[0]! : compose(...parts);
}
