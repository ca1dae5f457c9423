// Verifies authd tokens as a resource server would: jose's
// createRemoteJWKSet fetches authd's JWKS (cached for the life of this
// process) and jwtVerify checks each token against it.
//
// Usage: node verify.cjs NODE_MODULES_PARENT JWKS_URL ISSUER. Reads one token
// per line on stdin and answers one line each: "ok SUB KID" or "fail REASON"
// (tests/jwks_verifiers.rs). jose is loaded from NODE_MODULES_PARENT, where
// .ci/run installs it (`npm ci`).
'use strict';

const path = require('node:path');
const readline = require('node:readline');
const { createRequire } = require('node:module');

async function main() {
  const [prefix, url, issuer] = process.argv.slice(2);
  const jose = createRequire(path.join(prefix, 'package.json'))('jose');
  const jwks = jose.createRemoteJWKSet(new URL(url), { cacheMaxAge: 300000 });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const token = line.trim();
    if (!token) continue;
    try {
      const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
        issuer,
        requiredClaims: ['exp', 'iat', 'sub'],
      });
      process.stdout.write(`ok ${payload.sub} ${protectedHeader.kid}\n`);
    } catch (error) {
      process.stdout.write(`fail ${error.code || error.name}\n`);
    }
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
