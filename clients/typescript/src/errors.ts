// The API's error codes as Error subclasses, mirroring the Go client's
// client/errors.go: one class per sentinel there (ErrInvalid is
// InvalidRequestError, ErrIDConflict is IdConflictError, ...), so that
// `err instanceof ConflictError` reads like `errors.Is(err, client.ErrConflict)`.

/**
 * An error answer of the gateway, or no answer at all (status 0). Every
 * error the Client throws for a call is one of its subclasses; check with
 * `instanceof`.
 */
export class CourierError extends Error {
  /** The call, e.g. "POST /v1/messages/m-1/confirm". */
  readonly op: string;
  /** The HTTP status; 0 when no answer came (connection error, timeout). */
  readonly status: number;
  /** The API's error code ("conflict", ...); "" when the body had none. */
  readonly code: string;
  /** The gateway's explanation (or the cause's, without an answer). */
  readonly detail: string;

  constructor(op: string, status: number, code: string, detail: string, options?: { cause?: unknown }) {
    super(describe(op, status, code, detail), options);
    this.name = new.target.name;
    this.op = op;
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

function describe(op: string, status: number, code: string, detail: string): string {
  if (status === 0) return `courier: ${op}: ${detail}`;
  if (code === '') return `courier: ${op}: HTTP ${status}: ${detail}`;
  return `courier: ${op}: HTTP ${status} ${code}: ${detail}`;
}

/** The request broke a rule (invalid_request, invalid_json, unsupported_media_type, method_not_allowed). Fix the request; retrying cannot help. */
export class InvalidRequestError extends CourierError {}
/** The payload or body is over the gateway's limit. */
export class PayloadTooLargeError extends CourierError {}
/** No API key, or one the gateway does not know. */
export class UnauthorizedError extends CourierError {}
/**
 * The key may not do this: the route needs another role, the topic is not
 * among the key's topics, the message is another producer's (or names other
 * consumers), or the request names another producer or consumer than the
 * key's own identity.
 */
export class ForbiddenError extends CourierError {}
/** No message has the id. */
export class NotFoundError extends CourierError {}
/** The message's state makes the request impossible (confirm after cancel, ...). */
export class ConflictError extends CourierError {}
/** A message with the id exists with different content. */
export class IdConflictError extends CourierError {}
/** Courier or one of its dependencies did not answer, after every retry. */
export class UnavailableError extends CourierError {}
/** The gateway failed in a way retrying will not fix. */
export class InternalError extends CourierError {}

type ErrorClass = new (op: string, status: number, code: string, detail: string, options?: { cause?: unknown }) => CourierError;

/** The API's codes and the class each makes (client/errors.go's codes). */
const codes: Readonly<Record<string, ErrorClass>> = {
  invalid_request: InvalidRequestError,
  invalid_json: InvalidRequestError,
  unsupported_media_type: InvalidRequestError,
  payload_too_large: PayloadTooLargeError,
  unauthorized: UnauthorizedError,
  forbidden: ForbiddenError,
  not_found: NotFoundError,
  method_not_allowed: InvalidRequestError,
  conflict: ConflictError,
  id_conflict: IdConflictError,
  unavailable: UnavailableError,
  internal: InternalError,
};

/**
 * errorFor builds the error of an answer: the class its code names, or,
 * for an answer without a known code, the one its HTTP status class names;
 * no answer (status 0) is UnavailableError, as in the Go client.
 */
export function errorFor(op: string, status: number, code: string, detail: string, cause?: unknown): CourierError {
  const known = Object.prototype.hasOwnProperty.call(codes, code) ? codes[code] : undefined;
  let cls: ErrorClass;
  if (known !== undefined) cls = known;
  else if (status === 0 || status === 429 || status === 502 || status === 503 || status === 504) cls = UnavailableError;
  else if (status >= 500) cls = InternalError;
  else if (status === 404) cls = NotFoundError;
  else if (status >= 400) cls = InvalidRequestError;
  else cls = CourierError;
  return new cls(op, status, code, detail, cause === undefined ? undefined : { cause });
}
