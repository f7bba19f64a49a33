// The one rule every string a client sends must pass before anything reads it (query strings, form and JSON bodies,
// Basic credentials, the request path): valid UTF-8 (percent-escapes included, no unpaired surrogates), no NUL, and
// bounded lengths. PostgreSQL refuses NUL in text (22021) and invalid UTF-8, so without this rule such input became
// a 500 deep inside a store; here it is the client's mistake, named once, at the edge. Pure functions: the edge
// (src/http/edge.ts) applies them and answers in each surface's error shape.

/** Longest single value (a parameter, a JSON string, a credential): the longest legitimate ones are JWTs and JWKS. */
export const MAX_VALUE_LENGTH = 8 * 1024;
/** Longest parameter name or JSON key. */
export const MAX_NAME_LENGTH = 128;
/** Longest query string and request path. */
export const MAX_QUERY_LENGTH = 16 * 1024;
export const MAX_PATH_LENGTH = 2 * 1024;
/** Deepest JSON nesting accepted (no legitimate body comes close). */
const MAX_JSON_DEPTH = 32;

export type InputRule = 'utf8' | 'nul' | 'length' | 'json' | 'credentials';

/** Why an input was refused: the rule and where (a parameter name or a dotted JSON path), never the value. */
export class InputRefusal extends Error {
  override name = 'InputRefusal';
  constructor(
    readonly rule: InputRule,
    readonly where: string,
    message: string,
  ) {
    super(message);
  }
}

// In a `u` regex a surrogate class matches only unpaired surrogates (a pair is one code point).
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Bytes as UTF-8 text; refuses invalid sequences (overlong forms and surrogates included). */
export function decodeUtf8(bytes: Uint8Array, where: string): string {
  try {
    return fatal.decode(bytes);
  } catch {
    throw new InputRefusal('utf8', where, `${where} is not valid UTF-8`);
  }
}

/** One string value: well-formed Unicode, no NUL, at most `max` characters. */
export function checkString(value: string, where: string, max = MAX_VALUE_LENGTH): void {
  if (value.includes('\u0000')) throw new InputRefusal('nul', where, `${where} contains a NUL character`);
  if (LONE_SURROGATE.test(value)) throw new InputRefusal('utf8', where, `${where} is not valid Unicode`);
  if (value.length > max) throw new InputRefusal('length', where, `${where} is longer than ${max} characters`);
}

const STRAY_PERCENT = /%(?![0-9A-Fa-f]{2})/;

/**
 * Percent-decodes one component of a query string or form body (`+` is a space) to its bytes, then to UTF-8 text.
 * URLSearchParams and querystring would silently turn invalid escapes into U+FFFD; this refuses them.
 */
export function decodeComponent(raw: string, where: string): string {
  const text = raw.includes('+') ? raw.replace(/\+/g, ' ') : raw;
  if (!text.includes('%')) return text;
  // Every `%` starts an escape (the common case): the built-in decoder, which refuses what is not UTF-8 as fatally
  // as TextDecoder does (overlong forms, surrogates, truncated sequences; ECMA-262 Decode).
  if (!STRAY_PERCENT.test(text)) {
    try {
      return decodeURIComponent(text);
    } catch {
      throw new InputRefusal('utf8', where, `${where} is not valid UTF-8`);
    }
  }
  // A `%` that starts no escape is itself: byte by byte.
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i += 1) {
    const char = text.charCodeAt(i);
    if (char === 0x25 && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (char < 0x80) {
      bytes.push(char);
    } else {
      bytes.push(...Buffer.from(text[i]!, 'utf8'));
    }
  }
  return decodeUtf8(Uint8Array.from(bytes), where);
}

/** A whole `application/x-www-form-urlencoded` text (a body or a query string): every name and value. */
export function checkUrlEncoded(text: string, what: 'query' | 'body'): void {
  if (text === '') return;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const name = decodeComponent(rawName, `a ${what} parameter name`);
    checkString(name, `a ${what} parameter name`, MAX_NAME_LENGTH);
    const where = `${what} parameter ${JSON.stringify(name)}`;
    if (eq >= 0) checkString(decodeComponent(pair.slice(eq + 1), where), where);
  }
}

/** Every key and string inside a parsed JSON value. */
export function checkJson(value: unknown, path = 'body', depth = 0): void {
  if (depth > MAX_JSON_DEPTH) throw new InputRefusal('json', path, `the body nests deeper than ${MAX_JSON_DEPTH} levels`);
  if (typeof value === 'string') return checkString(value, path);
  if (Array.isArray(value)) {
    value.forEach((item, i) => checkJson(item, `${path}.${i}`, depth + 1));
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      checkString(key, `a field name in ${path}`, MAX_NAME_LENGTH);
      checkJson(item, `${path}.${key}`, depth + 1);
    }
  }
}

/** The request path, percent-decoded segment by segment (path parameters reach the stores). */
/** A path as it may be recorded: printable ASCII, bounded (the raw path is percent-encoded, but need not be). */
export function recordablePath(path: string): string {
  return path.slice(0, 200).replace(/[^\x21-\x7e]/g, '?');
}

export function checkPath(path: string): void {
  if (path.length > MAX_PATH_LENGTH) throw new InputRefusal('length', 'the path', `the path is longer than ${MAX_PATH_LENGTH} characters`);
  for (const segment of path.split('/')) checkString(decodeComponent(segment.replace(/\+/g, '%2B'), 'the path'), 'the path');
}

/**
 * HTTP Basic credentials (RFC 7617), whose two halves are form-encoded (RFC 6749 §2.3.1): base64 of UTF-8, and
 * each half valid text after percent-decoding. Other schemes pass (their values never reach a store unhashed).
 */
export function checkAuthorization(header: string): void {
  if (header.length > MAX_VALUE_LENGTH) throw new InputRefusal('length', 'the Authorization header', 'the Authorization header is too long');
  const basic = /^Basic\s+(.*)$/i.exec(header);
  if (!basic) return;
  const encoded = basic[1]!.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) throw new InputRefusal('credentials', 'the Basic credentials', 'the Basic credentials are not base64');
  const decoded = decodeUtf8(Buffer.from(encoded, 'base64'), 'the Basic credentials');
  checkString(decoded, 'the Basic credentials');
  const colon = decoded.indexOf(':');
  if (colon < 0) return; // the endpoint answers invalid_client
  checkString(decodeComponent(decoded.slice(0, colon), 'the Basic client id'), 'the Basic client id', MAX_NAME_LENGTH * 8);
  checkString(decodeComponent(decoded.slice(colon + 1), 'the Basic secret'), 'the Basic secret');
}
