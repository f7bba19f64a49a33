// A space-separated parameter or claim (`scope`) as its words: the one reading of it for the token endpoint, the
// consent page and CIBA requests.

/** The words of a space-separated value; none when it is not a string. */
export const words = (value: unknown): string[] => (typeof value === 'string' ? value.split(' ').filter(Boolean) : []);
