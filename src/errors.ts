// Domain errors, thrown by stores and services and mapped to protocol errors at the edge: the admin API turns them
// into `{ error, message, details? }` with 400/404/409 (src/admin/), OAuth endpoints into RFC 6749 codes.
export type ErrorDetail = { path: string; message: string };

/**
 * The error codes of the admin API's `{ error, message, details? }` answers (src/admin/http.ts maps domain errors to
 * them). OAuth endpoints answer RFC 6749/8693 codes, each refusal naming a rule of src/policy/rules.ts.
 */
export type AdminErrorCode = 'invalid_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'method_not_allowed' | 'conflict' | 'server_error' | 'service_unavailable';

export class DomainError extends Error {
  override name = 'DomainError';
}

/** The input breaks a rule; `details` name the fields (dotted paths) and what is wrong with each. */
export class InvalidInputError extends DomainError {
  override name = 'InvalidInputError';
  constructor(
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
}

/** The request conflicts with the current state (a duplicate, or a transition that is not allowed). */
export class ConflictError extends DomainError {
  override name = 'ConflictError';
}
