// A client's request body as the HTTP face read it, carried with the request
// to the process it is written to: the text JSON.parse got, where its
// top-level id, params and params._meta.progressToken are (found by the walk the
// depth check made before parsing, so nothing walks the body a second time),
// and, for a large body, its own UTF-8 bytes, so that the request reaches the
// process's stdin as slices of those bytes around the two splices instead of
// a 4 MiB string built, flattened and encoded again.
import { type RequestSpans, scanRequest } from './json-scan.js';
import { oneLine } from './jsonrpc-ids.js';

/** From this many bytes on a body keeps its bytes and is written to the process from them. */
export const LARGE_REQUEST_BYTES = 64 * 1024;

export interface RequestBody {
  /** The body as one line (stdio framing): CR and LF outside strings are whitespace, made spaces. */
  readonly text: string;
  /** Where the id and token of `text` are (UTF-16 offsets); undefined when `text` is not one object. */
  readonly spans: RequestSpans | undefined;
  /** The UTF-8 bytes of `text`, kept for large bodies only. */
  readonly bytes: Uint8Array | undefined;
}

/**
 * The body of `text` with the spans a scan of that very text found (the HTTP
 * face's depth check, `scanRequest`). `bytes`, when given, is `text`
 * encoded; kept only for a large body.
 */
export function requestBody(text: string, spans: RequestSpans | undefined, bytes?: Uint8Array): RequestBody {
  const line = oneLine(text);
  const keep = bytes !== undefined && bytes.length >= LARGE_REQUEST_BYTES;
  return {
    text: line,
    // oneLine keeps every offset: it replaces characters one for one.
    spans,
    // Bytes with a CR or LF are encoded again from the one-line text: the received buffer is not ours to change.
    bytes: !keep ? undefined : line === text ? bytes : Buffer.from(line),
  };
}

/** The body of a text no scan has read yet (a request the adapter makes, a test's). */
export function requestBodyOf(text: string): RequestBody {
  return requestBody(text, scanRequest(text).spans);
}

/**
 * The request as the process sees it: the top-level id set to `idJson` and,
 * when `tokenJson` is given, params._meta.progressToken to it, spliced in
 * place. Byte pieces for a body that kept its bytes (written as they are),
 * else text; undefined when the body lacks a member to set.
 */
export function spliceRequest(body: RequestBody, idJson: string, tokenJson: string | undefined): string | Uint8Array[] | undefined {
  const id = body.spans?.id;
  if (id === undefined) return undefined;
  const token = body.spans?.progressToken;
  if (tokenJson !== undefined && token === undefined) return undefined;
  const edits: Array<readonly [number, number, string]> = [[id.start, id.end, idJson]];
  if (tokenJson !== undefined && token !== undefined) edits.push([token.start, token.end, tokenJson]);
  edits.sort((a, b) => a[0] - b[0]);
  const text = body.text;
  if (body.bytes === undefined) {
    let out = '';
    let from = 0;
    for (const [start, end, value] of edits) {
      out += text.slice(from, start) + value;
      from = end;
    }
    return out + text.slice(from);
  }
  const bytes = body.bytes;
  // All-ASCII text (one byte per character, the usual case) needs no conversion.
  const ascii = bytes.length === text.length;
  const pieces: Uint8Array[] = [];
  let from = 0;
  let fromByte = 0;
  for (const [start, end, value] of edits) {
    const startByte = ascii ? start : fromByte + Buffer.byteLength(text.slice(from, start));
    pieces.push(bytes.subarray(fromByte, startByte), Buffer.from(value));
    // The members replaced are a number, a string or a container: their own bytes, counted as they are skipped.
    fromByte = ascii ? end : startByte + Buffer.byteLength(text.slice(start, end));
    from = end;
  }
  pieces.push(bytes.subarray(fromByte));
  return pieces;
}
