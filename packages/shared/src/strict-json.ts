/**
 * Strict JSON parsing for signed envelopes.
 *
 * `JSON.parse` keeps the last of two equal keys, so `{"aud":"a","aud":"b"}` would mean
 * different things to different parsers. {@link parseStrictJson} lets `JSON.parse` check the
 * grammar and build the value, then walks the (now known valid) text once more to refuse
 * duplicate member names, compared after unescaping, and nesting deeper than a limit.
 */

/** Options of {@link parseStrictJson}. */
export interface StrictJsonOptions {
  /** Deepest allowed nesting of objects and arrays. Default 32. */
  maxDepth?: number;
}

/** Why a text is not strict JSON; `offset` is the UTF-16 index of the problem, when known. */
export class StrictJsonError extends Error {
  readonly offset: number | undefined;

  constructor(message: string, offset?: number) {
    super(offset === undefined ? message : `${message} at offset ${offset}`);
    this.name = 'StrictJsonError';
    this.offset = offset;
  }
}

/**
 * Parses `text` as a single JSON value (RFC 8259, exactly what `JSON.parse` accepts), refusing
 * duplicate object member names and nesting deeper than `maxDepth`. Throws
 * {@link StrictJsonError}.
 */
export function parseStrictJson(text: string, options: StrictJsonOptions = {}): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // V8's message quotes the text around the error, which may hold a secret: keep only where.
    const at = error instanceof Error ? /position (\d+)/.exec(error.message)?.[1] : undefined;
    throw new StrictJsonError('Not valid JSON', at === undefined ? undefined : Number(at));
  }
  checkMembers(text, options.maxDepth ?? 32);
  return value;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Walks valid JSON text. Outside strings it only needs to see brackets and commas to know
 * whether the next string is a member name; strings are skipped with `indexOf`, so kilobytes of
 * base64 inside a string cost next to nothing.
 */
function checkMembers(text: string, maxDepth: number): void {
  // One entry per open container: the member names seen so far, or null for an array.
  const stack: (Set<string> | null)[] = [];
  let expectName = false;
  const length = text.length;
  let pos = 0;
  while (pos < length) {
    const c = text.charCodeAt(pos);
    if (c === QUOTE) {
      const end = closingQuote(text, pos);
      if (expectName) {
        const raw = text.slice(pos + 1, end);
        const name = raw.includes('\\') ? (JSON.parse(text.slice(pos, end + 1)) as string) : raw;
        const names = stack[stack.length - 1];
        if (names?.has(name)) {
          const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
          throw new StrictJsonError(`Duplicate member name ${JSON.stringify(shown)}`, pos);
        }
        names?.add(name);
        expectName = false;
      }
      pos = end + 1;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (stack.length >= maxDepth) {
        throw new StrictJsonError(`Nesting deeper than ${maxDepth}`, pos);
      }
      stack.push(c === OPEN_BRACE ? new Set() : null);
      expectName = c === OPEN_BRACE;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      stack.pop();
      expectName = false;
    } else if (c === COMMA) {
      expectName = stack[stack.length - 1] != null;
    }
    pos++;
  }
}

/** Index of the quote closing the string that opens at `open` (text is valid JSON). */
function closingQuote(text: string, open: number): number {
  let from = open + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}
