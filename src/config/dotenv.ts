// A .env parser for the dialect the SRS Go proxy reads with godotenv (v1.5): KEY=value (or KEY: value),
// `export ` prefixes, # comments, 'literal' and "escaped" quotes (may span lines), ${VAR}/$VAR expansion.
// It differs from godotenv on purpose in a few corners (docs/BEHAVIOUR.md 1.3 lists them): \t is a tab,
// unknown escapes stay as written, ${VAR} prefers the process environment (the value the proxy will use),
// lower-case names expand, a value ends at the first " #". A line it cannot understand is an error with
// its line number, because a silently skipped line is a silently wrong proxy.

import { clip } from '../text.js';

export class DotenvError extends Error {
  override readonly name = 'DotenvError';
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', $: '$', "'": "'" };

/**
 * Parses .env text. `lookup` resolves ${VAR} for names not defined earlier in the file
 * (normally the process environment). Returns the variables in file order.
 */
export function parseDotenv(text: string, lookup: (name: string) => string | undefined = () => undefined): Map<string, string> {
  const vars = new Map<string, string>();
  const expand = (value: string): string =>
    value.replace(/(\\)?\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, escaped, braced, bare) => {
      if (escaped) return whole.slice(1);
      const name = (braced ?? bare) as string;
      return lookup(name) ?? vars.get(name) ?? '';
    });

  const src = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  let pos = 0;
  let line = 1;
  while (pos < src.length) {
    const eol = src.indexOf('\n', pos);
    const end = eol === -1 ? src.length : eol;
    const raw = src.slice(pos, end);
    const trimmed = raw.trim();
    const startLine = line;
    if (trimmed === '' || trimmed.startsWith('#')) {
      pos = end + 1;
      line++;
      continue;
    }
    const body = trimmed.replace(/^export\s+/, '');
    const sep = body.search(/[=:]/);
    if (sep <= 0) throw new DotenvError(`line ${startLine}: expected KEY=value, got "${clip(trimmed)}"`);
    const key = body.slice(0, sep).trim();
    if (!KEY.test(key)) throw new DotenvError(`line ${startLine}: invalid variable name "${clip(key)}"`);
    // Offset of the value inside src, so quoted values can run over several lines.
    const valueStart = pos + raw.indexOf(body) + sep + 1;
    let i = valueStart;
    while (i < src.length && (src[i] === ' ' || src[i] === '\t')) i++;
    const quote = src[i];
    let value: string;
    if (quote === '"' || quote === "'") {
      let j = i + 1;
      let out = '';
      for (; j < src.length && src[j] !== quote; j++) {
        const c = src[j]!;
        if (c === '\n') line++;
        if (quote === '"' && c === '\\' && j + 1 < src.length) {
          const next = src[j + 1]!;
          // Keep \$ escaped until expansion so it yields a literal dollar.
          out += next === '$' ? '\\$' : (ESCAPES[next] ?? `\\${next}`);
          j++;
        } else out += c;
      }
      if (j >= src.length) throw new DotenvError(`line ${startLine}: unterminated ${quote} quote for ${key}`);
      const restEnd = src.indexOf('\n', j + 1);
      const rest = src.slice(j + 1, restEnd === -1 ? src.length : restEnd).trim();
      if (rest !== '' && !rest.startsWith('#')) {
        throw new DotenvError(`line ${line}: unexpected text after the closing quote of ${key}`);
      }
      value = quote === '"' ? expand(out) : out;
      pos = restEnd === -1 ? src.length : restEnd + 1;
    } else {
      let text = src.slice(i, end);
      const comment = text.search(/\s#/);
      if (comment !== -1) text = text.slice(0, comment);
      value = expand(text.trim());
      pos = end + 1;
    }
    line++;
    vars.set(key, value);
  }
  return vars;
}
