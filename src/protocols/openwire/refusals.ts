import type { ErrorCode } from '../../errors.js';
import type { WireThrowable } from './commands.js';

/** The Java exception a JMS client rebuilds from a refusal: its class decides which JMSException the application sees. */
const exceptionClasses: Partial<Record<ErrorCode, string>> = {
  FERRY_AUTHENTICATION_FAILED: 'java.lang.SecurityException',
  FERRY_DIRECTORY_UNAVAILABLE: 'java.lang.SecurityException',
  FERRY_NOT_AUTHORIZED: 'java.lang.SecurityException',
  FERRY_CLIENT_ID_IN_USE: 'javax.jms.InvalidClientIDException',
  FERRY_SELECTOR_INVALID: 'javax.jms.InvalidSelectorException',
  FERRY_DESTINATION_INVALID: 'javax.jms.InvalidDestinationException',
  // ActiveMQ's own subclass of InvalidDestinationException, which code written for ActiveMQ catches
  FERRY_DESTINATION_NOT_FOUND: 'org.apache.activemq.DestinationDoesNotExistException',
  FERRY_TX_NOT_FOUND: 'javax.jms.IllegalStateException',
  FERRY_TX_EXISTS: 'javax.jms.IllegalStateException',
  FERRY_CONSUMER_EXISTS: 'javax.jms.IllegalStateException',
  FERRY_LIMIT_EXCEEDED: 'javax.jms.ResourceAllocationException',
  FERRY_DESTINATION_FULL: 'javax.jms.ResourceAllocationException',
};

/** Failures of the wire itself: the connection cannot go on. Any other refusal answers the one command. */
const fatalCodes: ReadonlySet<ErrorCode> = new Set(['FERRY_OPENWIRE_MALFORMED', 'FERRY_OPENWIRE_FRAME_TOO_LARGE', 'FERRY_OPENWIRE_PROTOCOL', 'FERRY_OPENWIRE_INACTIVITY', 'FERRY_INTERNAL', 'FERRY_CONNECTION_CLOSED']);

/** True when the connection cannot go on after a refusal with this code. */
export function isFatalCode(code: ErrorCode): boolean {
  return fatalCodes.has(code);
}

/** A refusal as the exception an ExceptionResponse or ConnectionError carries. */
export function refusalThrowable(code: ErrorCode, message: string): WireThrowable {
  return { className: exceptionClasses[code] ?? 'javax.jms.JMSException', message: `${message} (${code})` };
}
