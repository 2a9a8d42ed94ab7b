// Every error code of Runwarden, and the typed error that carries one. Callers branch on `code`.

export const ERROR_CODES = Object.freeze({
  // wire format
  PROTO_ERR_TRUNCATED: 'frame ends inside a field',
  PROTO_ERR_MALFORMED: 'bytes are not a valid protobuf message',
  PROTO_ERR_INVALID: 'message is well-formed but breaks the contract',
  PROTO_ERR_TOO_LARGE: 'message exceeds the size limit',
  // configuration and usage
  CONFIG_ERR_INVALID: 'configuration is invalid',
  CONFIG_ERR_READ: 'configuration file cannot be read',
  CLI_ERR_USAGE: 'command line is invalid',
  // collector
  COLLECTOR_ERR_AUTH: 'missing or wrong agent token',
  COLLECTOR_ERR_PROTOCOL: 'agent broke the stream protocol',
  COLLECTOR_ERR_STORE: 'store failed to commit',
  COLLECTOR_ERR_DISK_FULL: 'store is out of disk space',
  COLLECTOR_ERR_TLS: 'TLS material cannot be loaded',
  // audit chain
  AUDIT_ERR_CHAIN: 'audit chain is broken',
  AUDIT_ERR_CHECKPOINT: 'checkpoint signature or head does not match',
  // agent
  AGENT_ERR_SPOOL: 'spool cannot be written or read',
  AGENT_ERR_SENSOR: 'sensor failed',
  AGENT_ERR_UPLINK: 'collector unreachable',
  AGENT_ERR_JOB: 'job registration failed',
  AGENT_ERR_REQUEST: 'job socket request is malformed, too large or too slow',
  AGENT_ERR_SECRETS: 'secret patterns cannot be compiled',
  AGENT_ERR_SECRET_KEY: 'install key cannot be created or read',
  // rules
  RULES_ERR_INVALID: 'rule file is invalid',
});
export type ErrorCode = keyof typeof ERROR_CODES;

export class RwError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RwError';
    this.code = code;
    this.details = options?.details ? Object.freeze({ ...options.details }) : undefined;
  }
}

export function isRwError(e: unknown, code?: ErrorCode): e is RwError {
  return e instanceof RwError && (code === undefined || e.code === code);
}
