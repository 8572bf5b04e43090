/**
 * Scopes for tensor lifetimes: `tidy(fn)` disposes every tensor created inside `fn` except those it returns
 * (found in the returned value, arrays and plain objects) and those passed to `keep()`. Scopes nest; a
 * returned tensor belongs to the enclosing scope. Garbage-collection finalizers in the addon remain the
 * safety net for tensors created outside any scope.
 */
import { HgcError } from './errors.js';
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];

/** @internal Called by every new Tensor. */
export function trackTensor(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Removes `t` from every open scope so `tidy` will not dispose it; returns `t`. */
export function keep<T extends Tensor>(t: T): T {
  if (t === null || typeof t !== 'object' || (t as { isTensor?: unknown }).isTensor !== true) {
    throw new HgcError('ARG', 'keep: argument must be a Tensor');
  }
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<Tensor>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if ((value as { isTensor?: unknown }).isTensor === true) {
    out.add(value as Tensor);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, seen);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, seen);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) collect(v, out, seen);
  }
}

/**
 * Runs `fn` and disposes the tensors it created, except the ones in its result or kept with {@link keep}.
 * Asynchronous functions are not supported (the scope would close before they finish): use explicit
 * `dispose()` there.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new HgcError('ARG', 'tidy: argument must be a function');
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  const survivors = new Set<Tensor>();
  collect(result, survivors, new Set());
  for (const t of scope) {
    if (survivors.has(t)) trackTensor(t);
    else t.dispose();
  }
  return result;
}
