// Which environment variables of a job are secrets: configured names, name patterns and value shapes.
// Values stay in memory; callers must never log the `value` field.

export interface DiscoveredSecret {
  name: string;
  value: string;
  /** Why: `config-name`, `config-pattern:<glob>`, `name:<rule>`, `shape:<kind>`, `entropy`. */
  reason: string;
}

export interface DiscoverOptions {
  /** Exact variable names (config `secrets.names`). */
  names?: readonly string[];
  /** Name globs with `*` and `?`, case-insensitive (config `secrets.patterns`). */
  patterns?: readonly string[];
  /** Values shorter than this are never secrets to scan for: they would match everywhere. */
  minValueLength?: number;
}

export const DISCOVER_DEFAULTS = Object.freeze({ minValueLength: 8 });

// Name rules on `_`/`-`/`.`-separated words, so KEYBOARD, MONKEY or AUTHOR do not count.
const NAME_WORDS: readonly [string, RegExp][] = [
  ['token', /TOKEN/],
  ['secret', /SECRET/],
  ['password', /PASSWORD|PASSWD|^PASS$|^PASSPHRASE$|^PWD?$/],
  ['credential', /CREDENTIAL|^CREDS?$/],
  ['key', /^(?:KEYS?|(?:API|PRIVATE|SECRET|ACCESS|SIGNING|ENCRYPTION|MASTER|SSH|GPG|PGP|DEPLOY|LICENSE|AUTH|CLIENT|APP|SERVICE|ACCOUNT|WEBHOOK|SESSION)KEYS?)$/],
  ['auth', /^(?:AUTH|AUTHN|AUTHZ|AUTHORIZATION|BEARER|APIKEY|COOKIE|DSN|OTP|TOTP|SALT|HMAC|SIGNATURE)$/],
];
const WELL_KNOWN: ReadonlySet<string> = new Set([
  'ACTIONS_RUNTIME_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'GITHUB_TOKEN', 'GH_TOKEN', 'GH_ENTERPRISE_TOKEN',
  'CI_JOB_TOKEN', 'CI_JOB_JWT', 'CI_JOB_JWT_V2', 'CI_REGISTRY_PASSWORD', 'CI_DEPLOY_PASSWORD',
  'BUILDKITE_AGENT_ACCESS_TOKEN', 'NODE_AUTH_TOKEN', 'TWINE_PASSWORD', 'DOCKER_PASSWORD', 'DOCKERHUB_TOKEN',
  'SLACK_WEBHOOK_URL', 'CODECOV_TOKEN', 'SONAR_TOKEN', 'SENTRY_AUTH_TOKEN', 'VAULT_TOKEN',
]);
// AWS_* is secret by default, except the SDK settings that are plain configuration.
const AWS_NOT_SECRET: ReadonlySet<string> = new Set([
  'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_DEFAULT_OUTPUT',
  'AWS_SDK_LOAD_CONFIG', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_EC2_METADATA_DISABLED',
  'AWS_ENDPOINT_URL', 'AWS_RETRY_MODE', 'AWS_MAX_ATTEMPTS', 'AWS_PAGER', 'AWS_CA_BUNDLE',
  'AWS_ROLE_ARN', 'AWS_ROLE_SESSION_NAME', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_STS_REGIONAL_ENDPOINTS',
  'AWS_USE_FIPS_ENDPOINT', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_NAME',
]);
// Names that match a word rule but hold no secret (paths, URLs, switches of well-known tools).
const NAME_NOT_SECRET: ReadonlySet<string> = new Set([
  'PWD', 'OLDPWD', 'ACTIONS_ID_TOKEN_REQUEST_URL', 'SSH_AUTH_SOCK', 'GPG_AGENT_INFO', 'GIT_ASKPASS', 'SSH_ASKPASS',
  'SUDO_ASKPASS',
]);

/** Value shapes recognised anywhere; `g` so embedded tokens (URLs, JSON, .npmrc lines) are found too. */
const SHAPES: readonly [string, RegExp][] = [
  ['github-token', /\bgh[pousr]_[A-Za-z0-9]{36,255}\b/g],
  ['github-pat', /\bgithub_pat_[A-Za-z0-9_]{22,255}\b/g],
  ['aws-access-key-id', /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g],
  ['npm-token', /\bnpm_[A-Za-z0-9]{36}\b/g],
  ['pypi-token', /\bpypi-[A-Za-z0-9_-]{50,}/g],
  ['slack-token', /\bxox[abposr]-[A-Za-z0-9-]{10,}/g],
  ['gitlab-token', /\bglpat-[A-Za-z0-9_-]{20,}/g],
  ['jwt', /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/g],
  ['private-key', /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]+?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g],
  ['url-password', /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:([^\s@/]{8,})@/gi],
];
// An AWS secret access key has no prefix: 40 base64 characters mixing cases and digits (git SHAs do not).
const AWS_SECRET_KEY = /^[A-Za-z0-9/+]{40}$/;

function words(name: string): string[] {
  return name.toUpperCase().split(/[_\-.]+/).filter((w) => w.length > 0);
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/** Shannon entropy in bits per character. */
export function entropyBitsPerChar(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Values that cannot be a credential whatever the name says. */
export function isObviousNonSecret(value: string): boolean {
  const v = value.trim();
  if (/^(?:true|false|yes|no|on|off|null|none|nil|undefined|enabled|disabled|\*+)$/i.test(v)) return true;
  if (/^-?\d{1,11}(?:\.\d+)?$/.test(v)) return true;                       // numbers, ports, ids
  if (/^(?:\/|\.\.?\/|~\/|[A-Za-z]:\\)\S*$/.test(v) && !/\s/.test(v)) return true;   // paths
  // URLs without credentials; a query string or a long path segment may be the credential (webhooks).
  if (/^(?:https?|wss?|file):\/\/[^\s@?#]*$/i.test(v) && !v.split('/').slice(3).some((seg) => seg.length >= 16)) return true;
  if (/^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(v)) return true;              // unexpanded references
  return false;
}

function nameRule(name: string): string | undefined {
  const upper = name.toUpperCase();
  if (NAME_NOT_SECRET.has(upper)) return undefined;
  if (WELL_KNOWN.has(upper)) return 'well-known';
  if (upper.startsWith('AWS_')) return AWS_NOT_SECRET.has(upper) ? undefined : 'aws';
  if (/^NPM_.*TOKEN/.test(upper)) return 'npm-token';
  const ws = words(name);
  for (const [rule, re] of NAME_WORDS) if (ws.some((w) => re.test(w))) return rule;
  return undefined;
}

// Names that hint at a secret too weakly to trust alone; the value's entropy decides.
const WEAK_HINT = /PRIVATE|SIGN|SESSION|COOKIE|CERT|API|WEBHOOK|DSN|CONN(?:ECTION)?_?STRING|HASH|NONCE|AUTH/i;

export function discoverSecrets(
  env: Readonly<Record<string, string | undefined>>,
  options: DiscoverOptions = {},
): DiscoveredSecret[] {
  const minLen = options.minValueLength ?? DISCOVER_DEFAULTS.minValueLength;
  const names = new Set(options.names ?? []);
  const globs = (options.patterns ?? []).map((g) => [g, globToRegExp(g)] as const);
  const out: DiscoveredSecret[] = [];
  const seen = new Set<string>();
  const add = (name: string, value: string, reason: string): void => {
    if (value.length < minLen) return;
    const key = `${name}\u0000${value}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ name, value, reason });
  };

  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (value === undefined || value.length < minLen) continue;
    // Configured names are taken whatever the value looks like: the operator said so.
    if (names.has(name)) { add(name, value, 'config-name'); continue; }
    const glob = globs.find(([, re]) => re.test(name));
    if (glob) { add(name, value, `config-pattern:${glob[0]}`); continue; }

    let whole: string | undefined;
    for (const [kind, re] of SHAPES) {
      re.lastIndex = 0;
      const matches: RegExpMatchArray[] = [...value.matchAll(re)];
      for (const m of matches) {
        const token: string = kind === 'url-password' ? m[1] ?? '' : m[0];
        if (token === value) whole = `shape:${kind}`;
        else if (kind !== 'url-password' || !isObviousNonSecret(token)) add(name, token, `shape:${kind}`);
      }
    }
    if (whole) { add(name, value, whole); continue; }
    const rule = nameRule(name);
    if (rule === 'well-known') { add(name, value, 'name:well-known'); continue; }
    if (isObviousNonSecret(value)) continue;
    if (rule) { add(name, value, `name:${rule}`); continue; }
    if (AWS_SECRET_KEY.test(value) && /[A-Z]/.test(value) && /[a-z]/.test(value) && /\d/.test(value)) {
      add(name, value, 'shape:aws-secret-key');
      continue;
    }
    if (WEAK_HINT.test(name) && value.length >= 16 && !/\s/.test(value) && entropyBitsPerChar(value) >= 3.5) {
      add(name, value, 'entropy');
    }
  }
  return out;
}
