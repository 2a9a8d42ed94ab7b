// Masks credential-shaped tokens in finding text: argv from the wire may still carry a secret value, and no
// secret value may reach a finding, a report or an alert. Known token prefixes, then long high-entropy words.
import { entropy } from './netmatch.js';

const PREFIXED = /\b(ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|npm_|xox[abposr]-|AKIA|ASIA|sk-|sk_live_|rk_live_|AIza|ya29\.|hf_|pypi-|dop_v1_|SG\.)[A-Za-z0-9_\-.=]{8,}/g;
const WORD = /[A-Za-z0-9+/=_\-]{24,}/g;

export function maskSecretLike(text: string): string {
  return text.replace(PREFIXED, '[redacted]').replace(WORD, (w) => {
    const hasDigit = /\d/.test(w);
    const hasUpper = /[A-Z]/.test(w);
    const hasLower = /[a-z]/.test(w);
    // Paths and hex digests (exe hashes) are mixed-case-free; secrets are usually mixed alphanumerics.
    return hasDigit && hasUpper && hasLower && entropy(w) >= 4 ? '[redacted]' : w;
  });
}
