/**
 * Strict JSON parsing for signed envelopes.
 *
 * `JSON.parse` keeps the last of two equal keys, so `{"aud":"a","aud":"b"}` would mean
 * different things to different parsers. A small scanner walks the RFC 8259 grammar first and
 * refuses duplicate member names (compared after unescaping), excessive nesting and anything
 * `JSON.parse` would also refuse; only then does `JSON.parse` build the value.
 */

/** Options of {@link parseStrictJson}. */
export interface StrictJsonOptions {
  /** Deepest allowed nesting of objects and arrays. Default 32. */
  maxDepth?: number;
}

/** Why a text is not strict JSON; `offset` is the UTF-16 index where scanning stopped. */
export class StrictJsonError extends Error {
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(message);
    this.name = 'StrictJsonError';
    this.offset = offset;
  }
}

/**
 * Parses `text` as a single JSON value, refusing duplicate object keys and nesting deeper
 * than `maxDepth`. Throws {@link StrictJsonError}.
 */
export function parseStrictJson(text: string, options: StrictJsonOptions = {}): unknown {
  new Scanner(text, options.maxDepth ?? 32).scanDocument();
  return JSON.parse(text) as unknown;
}

// Character codes the scanner compares against.
const Char = {
  Tab: 0x09,
  Newline: 0x0a,
  Return: 0x0d,
  Space: 0x20,
  Quote: 0x22,
  Plus: 0x2b,
  Comma: 0x2c,
  Minus: 0x2d,
  Dot: 0x2e,
  Zero: 0x30,
  One: 0x31,
  Nine: 0x39,
  Colon: 0x3a,
  UpperE: 0x45,
  OpenBracket: 0x5b,
  Backslash: 0x5c,
  CloseBracket: 0x5d,
  LowerE: 0x65,
  OpenBrace: 0x7b,
  CloseBrace: 0x7d,
} as const;

class Scanner {
  readonly #text: string;
  readonly #maxDepth: number;
  #pos = 0;

  constructor(text: string, maxDepth: number) {
    this.#text = text;
    this.#maxDepth = maxDepth;
  }

  scanDocument(): void {
    this.#skipWhitespace();
    this.#scanValue(0);
    this.#skipWhitespace();
    if (this.#pos !== this.#text.length) this.#fail('Unexpected data after the JSON value');
  }

  #fail(message: string): never {
    throw new StrictJsonError(`${message} at offset ${this.#pos}`, this.#pos);
  }

  #peek(): number {
    return this.#text.charCodeAt(this.#pos);
  }

  #skipWhitespace(): void {
    for (;;) {
      const c = this.#peek();
      if (c !== Char.Space && c !== Char.Tab && c !== Char.Newline && c !== Char.Return) return;
      this.#pos++;
    }
  }

  #expect(c: number, what: string): void {
    if (this.#peek() !== c) this.#fail(`Expected ${what}`);
    this.#pos++;
  }

  #scanValue(depth: number): void {
    const c = this.#peek();
    if (c === Char.OpenBrace) return this.#scanObject(depth + 1);
    if (c === Char.OpenBracket) return this.#scanArray(depth + 1);
    if (c === Char.Quote) return void this.#scanString();
    if (c === Char.Minus || (c >= Char.Zero && c <= Char.Nine)) return this.#scanNumber();
    for (const literal of ['true', 'false', 'null']) {
      if (this.#text.startsWith(literal, this.#pos)) {
        this.#pos += literal.length;
        return;
      }
    }
    this.#fail('Expected a JSON value');
  }

  #scanObject(depth: number): void {
    if (depth > this.#maxDepth) this.#fail(`Nesting deeper than ${this.#maxDepth}`);
    this.#pos++;
    this.#skipWhitespace();
    if (this.#peek() === Char.CloseBrace) {
      this.#pos++;
      return;
    }
    const keys = new Set<string>();
    for (;;) {
      if (this.#peek() !== Char.Quote) this.#fail('Expected a member name');
      const keyStart = this.#pos;
      const key = this.#scanString();
      if (keys.has(key)) {
        this.#pos = keyStart;
        this.#fail(`Duplicate member name ${JSON.stringify(key)}`);
      }
      keys.add(key);
      this.#skipWhitespace();
      this.#expect(Char.Colon, '":"');
      this.#skipWhitespace();
      this.#scanValue(depth);
      this.#skipWhitespace();
      if (this.#peek() === Char.Comma) {
        this.#pos++;
        this.#skipWhitespace();
        continue;
      }
      this.#expect(Char.CloseBrace, '"," or "}"');
      return;
    }
  }

  #scanArray(depth: number): void {
    if (depth > this.#maxDepth) this.#fail(`Nesting deeper than ${this.#maxDepth}`);
    this.#pos++;
    this.#skipWhitespace();
    if (this.#peek() === Char.CloseBracket) {
      this.#pos++;
      return;
    }
    for (;;) {
      this.#scanValue(depth);
      this.#skipWhitespace();
      if (this.#peek() === Char.Comma) {
        this.#pos++;
        this.#skipWhitespace();
        continue;
      }
      this.#expect(Char.CloseBracket, '"," or "]"');
      return;
    }
  }

  /** Scans a string token and returns its decoded value. */
  #scanString(): string {
    const start = this.#pos;
    this.#pos++;
    let escaped = false;
    for (;;) {
      const c = this.#peek();
      if (Number.isNaN(c)) this.#fail('Unterminated string');
      if (c < Char.Space) this.#fail('Control character in string');
      if (c === Char.Quote) break;
      if (c === Char.Backslash) {
        escaped = true;
        const e = this.#text.charCodeAt(this.#pos + 1);
        if (e === 0x75 /* u */) {
          if (!/^[0-9A-Fa-f]{4}$/.test(this.#text.slice(this.#pos + 2, this.#pos + 6))) {
            this.#fail('Invalid \\u escape');
          }
          this.#pos += 6;
          continue;
        }
        // " \ / b f n r t
        if (![0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74].includes(e)) {
          this.#fail('Invalid escape');
        }
        this.#pos += 2;
        continue;
      }
      this.#pos++;
    }
    this.#pos++;
    const raw = this.#text.slice(start + 1, this.#pos - 1);
    return escaped ? (JSON.parse(this.#text.slice(start, this.#pos)) as string) : raw;
  }

  #scanNumber(): void {
    if (this.#peek() === Char.Minus) this.#pos++;
    const first = this.#peek();
    if (first === Char.Zero) {
      this.#pos++;
    } else if (first >= Char.One && first <= Char.Nine) {
      this.#skipDigits();
    } else {
      this.#fail('Invalid number');
    }
    if (this.#peek() === Char.Dot) {
      this.#pos++;
      this.#requireDigits();
    }
    const e = this.#peek();
    if (e === Char.LowerE || e === Char.UpperE) {
      this.#pos++;
      const sign = this.#peek();
      if (sign === Char.Plus || sign === Char.Minus) this.#pos++;
      this.#requireDigits();
    }
  }

  #requireDigits(): void {
    const c = this.#peek();
    if (!(c >= Char.Zero && c <= Char.Nine)) this.#fail('Invalid number');
    this.#skipDigits();
  }

  #skipDigits(): void {
    for (;;) {
      const c = this.#peek();
      if (!(c >= Char.Zero && c <= Char.Nine)) return;
      this.#pos++;
    }
  }
}
