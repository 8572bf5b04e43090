/**
 * Command-line parsing for `hgc`: node's util.parseArgs (strict: unknown options and missing values are errors)
 * with its errors turned into {@link UsageError}s, and typed readers for option values.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

import { UsageError } from './exit-codes.js';

/** The option table of a command (util.parseArgs' format). */
export type OptionTable = NonNullable<ParseArgsConfig['options']>;

/** Parsed options (strings, booleans, or arrays of them for `multiple` options) and positionals. */
export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Parses `argv` against `options`; any problem is a UsageError naming the command. */
export function parseCommand(command: string, argv: readonly string[], options: OptionTable, allowPositionals = false): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals, strict: true });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(`hgc ${command}: ${msg}`);
  }
}

/** A string option (undefined when absent). */
export function stringOpt(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A number option: `integer` requires a whole number, `min` a lower bound; absent gives `fallback`. */
export function numberOpt(command: string, args: ParsedArgs, name: string, fallback: number,
  check: { integer?: boolean; min?: number; max?: number } = {}): number {
  const raw = stringOpt(args, name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  const kind = check.integer ? 'an integer' : 'a number';
  const range = check.min !== undefined && check.max !== undefined ? ` in ${check.min}..${check.max}`
    : check.min !== undefined ? ` ≥ ${check.min}` : check.max !== undefined ? ` ≤ ${check.max}` : '';
  if (raw.trim() === '' || !Number.isFinite(v) || (check.integer && !Number.isInteger(v)) ||
    (check.min !== undefined && v < check.min) || (check.max !== undefined && v > check.max)) {
    throw new UsageError(`hgc ${command}: --${name} must be ${kind}${range}, got ${JSON.stringify(raw)}`);
  }
  return v;
}

/** A string option restricted to `choices`. */
export function choiceOpt<T extends string>(command: string, args: ParsedArgs, name: string, choices: readonly T[], fallback: T): T {
  const raw = stringOpt(args, name);
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new UsageError(`hgc ${command}: --${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

/** A required string option. */
export function requiredOpt(command: string, args: ParsedArgs, name: string, what: string): string {
  const v = stringOpt(args, name);
  if (v === undefined || v === '') throw new UsageError(`hgc ${command}: --${name} is required (${what})`);
  return v;
}
