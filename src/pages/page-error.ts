// What a page answers when it cannot do what was asked: a status and words for the person at the browser. Anything
// else thrown in a page route is an internal error, logged and shown as a generic page (never a stack trace).
export class PageError extends Error {
  override name = 'PageError';

  constructor(
    readonly status: number,
    /** The page heading. */
    readonly title: string,
    /** What happened and what to do next, for a person. */
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${status} ${title}`);
  }
}

/** The interaction is gone (expired, finished, or its cookie is missing): the only way on is to start again. */
export function interactionGone(): PageError {
  return new PageError(
    400,
    'This sign-in request is no longer valid',
    'It may have expired or already been completed. Go back to the application and start again.',
  );
}
