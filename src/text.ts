// Small string helpers for validating and quoting untrusted input in errors and logs.

/** True when `s` holds an ASCII control character (C0 or DEL). */
export function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** `s` cut to `max` characters with an ellipsis, so an attacker's 10 KB string never fills a log line. */
export function clip(s: string, max = 64): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
