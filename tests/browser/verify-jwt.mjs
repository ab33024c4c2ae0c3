// Verifies a JWT against a JWKS URL with `jose` — a JWT library independent of the one handoff
// uses — and prints the verified claims as JSON. Exits non-zero when verification fails.
// Usage: node verify-jwt.mjs <jwks-url> <token> <issuer> <audience>
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, token, issuer, audience] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl));
const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience, algorithms: ['EdDSA'] });
process.stdout.write(JSON.stringify({ header: protectedHeader, claims: payload }) + '\n');
