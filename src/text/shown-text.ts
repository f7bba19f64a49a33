// Text a person reads as it is (agent names on the consent and approvals pages, CIBA binding messages): letters,
// marks, digits, punctuation, symbols and plain spaces on one line. No control characters or line breaks (which
// forge extra lines in pages, logs and notifications), and no format characters: bidi overrides and isolates
// (U+202A–U+202E, U+2066–U+2069) reorder what is shown ("Helper\u202Egnp.exe" reads as "Helperexe.png"), zero-width
// characters make two names look alike.
const SHOWN_TEXT = /^[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]+$/u;

export const SHOWN_TEXT_RULE = 'letters, digits, punctuation, symbols and spaces on one line: no control characters, line breaks, bidi or zero-width characters';

export function isShownText(value: string): boolean {
  return SHOWN_TEXT.test(value) && value.trim() !== '';
}
