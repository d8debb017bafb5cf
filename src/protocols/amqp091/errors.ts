import { FerryError, type ErrorCode } from '../../errors.js';

/** Reply codes of the 0-9-1 specification (its `constant` elements) that Ferry sends. */
export const Reply = {
  success: 200,
  contentTooLarge: 311,
  noRoute: 312,
  noConsumers: 313,
  connectionForced: 320,
  invalidPath: 402,
  accessRefused: 403,
  notFound: 404,
  resourceLocked: 405,
  preconditionFailed: 406,
  frameError: 501,
  syntaxError: 502,
  commandInvalid: 503,
  channelError: 504,
  unexpectedFrame: 505,
  resourceError: 506,
  notAllowed: 530,
  notImplemented: 540,
  internalError: 541,
} as const;

const replyTexts: Record<number, string> = {
  200: 'OK',
  311: 'CONTENT_TOO_LARGE',
  312: 'NO_ROUTE',
  313: 'NO_CONSUMERS',
  320: 'CONNECTION_FORCED',
  402: 'INVALID_PATH',
  403: 'ACCESS_REFUSED',
  404: 'NOT_FOUND',
  405: 'RESOURCE_LOCKED',
  406: 'PRECONDITION_FAILED',
  501: 'FRAME_ERROR',
  502: 'SYNTAX_ERROR',
  503: 'COMMAND_INVALID',
  504: 'CHANNEL_ERROR',
  505: 'UNEXPECTED_FRAME',
  506: 'RESOURCE_ERROR',
  530: 'NOT_ALLOWED',
  540: 'NOT_IMPLEMENTED',
  541: 'INTERNAL_ERROR',
};

/** `NOT_FOUND - no queue 'x'`, the way RabbitMQ words a reply text, which clients show to their users. */
export function replyText(code: number, text: string): string {
  const full = `${replyTexts[code] ?? 'ERROR'} - ${text}`;
  // a reply text is a short string
  return Buffer.byteLength(full) <= 255 ? full : Buffer.from(full).subarray(0, 255).toString('utf8').replace(/\uFFFD$/, '');
}

/**
 * Reply codes 3xx and 4xx close only the channel (a channel exception); 5xx close the connection
 * ([AMQP 0-9-1 1.5.2.1]: the `class` of each constant says which).
 */
export function isConnectionException(code: number): boolean {
  return code >= 500 || code === Reply.connectionForced;
}

/** A FerryError whose 0-9-1 reply code is more exact than its code's. */
export class Amqp091Error extends FerryError {
  constructor(
    code: ErrorCode,
    readonly replyCode: number,
    message: string,
  ) {
    super(code, message);
  }
}

/** The reply code a core error becomes: a client's mistake on one channel, or the broker's fault. */
export function replyCodeOf(err: unknown): number {
  if (err instanceof Amqp091Error) return err.replyCode;
  if (!(err instanceof FerryError)) return Reply.internalError;
  switch (err.code) {
    case 'FERRY_DESTINATION_NOT_FOUND':
      return Reply.notFound;
    case 'FERRY_NOT_AUTHORIZED':
    // RabbitMQ refuses a login its LDAP server did not answer with access-refused too
    case 'FERRY_DIRECTORY_UNAVAILABLE':
    case 'FERRY_NAME_RESERVED':
    case 'FERRY_QUEUE_IN_USE':
      return Reply.accessRefused;
    case 'FERRY_RESOURCE_LOCKED':
      return Reply.resourceLocked;
    case 'FERRY_PRECONDITION_FAILED':
    // RabbitMQ refuses a queue past its virtual host's limit with precondition-failed too
    case 'FERRY_LIMIT_EXCEEDED':
    case 'FERRY_DESTINATION_INVALID':
    case 'FERRY_SELECTOR_INVALID':
    case 'FERRY_CONSUMER_EXISTS':
    case 'FERRY_DELIVERY_NOT_FOUND':
    case 'FERRY_TX_NOT_FOUND':
      return Reply.preconditionFailed;
    case 'FERRY_NOT_SUPPORTED':
      return Reply.notImplemented;
    case 'FERRY_BROKER_STOPPING':
    case 'FERRY_CONNECTION_CLOSED':
      return Reply.connectionForced;
    case 'FERRY_STORE_FAILED':
      return Reply.internalError;
    default:
      return err.code.startsWith('FERRY_AMQP091_') ? Reply.commandInvalid : Reply.internalError;
  }
}
