// A policy's `loadBalancing` → the balancing in force: the default strategy
// filled in, slow start's defaults too. Pure.
import type { HashOn, LbStrategy, LoadBalancingPolicy } from './load-balancing-schema.js';

export interface EffectiveSlowStart {
  readonly windowMs: number;
  readonly aggression: number;
  readonly minWeightPercent: number;
}

export interface EffectiveLoadBalancing {
  readonly strategy: LbStrategy;
  readonly hashOn?: HashOn;
  readonly slowStart?: EffectiveSlowStart;
}

export const LB_DEFAULTS = {
  // Tool calls vary from microseconds to minutes; least-request keeps a slow
  // replica from accumulating a queue the way round-robin would.
  strategy: 'least-request',
  slowStart: { aggression: 1, minWeightPercent: 10 },
} as const;

export const DEFAULT_LOAD_BALANCING: EffectiveLoadBalancing = { strategy: LB_DEFAULTS.strategy };

export function resolveLoadBalancing(lb: LoadBalancingPolicy | undefined): EffectiveLoadBalancing {
  if (lb === undefined) return DEFAULT_LOAD_BALANCING;
  return {
    strategy: lb.strategy ?? LB_DEFAULTS.strategy,
    ...(lb.hashOn !== undefined ? { hashOn: lb.hashOn } : {}),
    ...(lb.slowStart !== undefined
      ? {
          slowStart: {
            windowMs: lb.slowStart.window,
            aggression: lb.slowStart.aggression ?? LB_DEFAULTS.slowStart.aggression,
            minWeightPercent: lb.slowStart.minWeightPercent ?? LB_DEFAULTS.slowStart.minWeightPercent,
          },
        }
      : {}),
  };
}

/** A stable text of a balancing: equal balancings, equal keys (cluster names are made from it). */
export function loadBalancingKey(lb: EffectiveLoadBalancing): string {
  const hash = lb.hashOn === undefined ? '' : 'header' in lb.hashOn ? `header=${lb.hashOn.header}` : `argument=${lb.hashOn.argument}`;
  const slow =
    lb.slowStart === undefined ? '' : `slow=${lb.slowStart.windowMs}/${lb.slowStart.aggression}/${lb.slowStart.minWeightPercent}`;
  return [lb.strategy, hash, slow].filter((p) => p !== '').join(';');
}

export function sameLoadBalancing(a: EffectiveLoadBalancing, b: EffectiveLoadBalancing): boolean {
  return loadBalancingKey(a) === loadBalancingKey(b);
}
