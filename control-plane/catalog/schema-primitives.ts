// Field types the policy and the mesh settings share (durations, tool names,
// file paths), in a leaf module so either schema can import them.
import { z } from 'zod';
import { parseDuration } from '../../lib/duration.js';

/** A duration string within [minMs, maxMs], parsed to milliseconds. */
export function durationMs(minMs: number, maxMs: number) {
  return z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use e.g. 250ms, 5s, 2m)` });
      return z.NEVER;
    }
    if (ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: `${text} is outside ${minMs}ms..${maxMs}ms` });
      return z.NEVER;
    }
    return ms;
  });
}

/** MCP tool names: the spec allows letters, digits, _ - . and / (1..128). */
export const TOOL_NAME = /^[A-Za-z0-9_./-]{1,128}$/;

/** A file Envoy reads (and the control plane, for tools/list): an absolute path. */
export const FilePathSchema = z
  .string()
  .max(4096)
  .regex(/^\/[^\0\n]*$/, 'an absolute file path');
