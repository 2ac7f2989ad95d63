// verify.mjs verifies JWTs with panva/jose (https://github.com/panva/jose),
// fetching the verification keys from a JWKS URL, the way a Node.js service
// that trusts tether's token service would. internal/tokens/interop_test.go
// runs it; `npm ci` in this directory installs jose.
//
// Usage:
//
//	node verify.mjs '{"jwksUrl": …, "token": …, …}'
//	node verify.mjs < cases.json
//
// The input is one case, or an array of cases (one process for many
// verifications: Node starts slowly). A case is
//
//	name            echoed back in its result (optional)
//	jwksUrl         the JWKS URL (createRemoteJWKSet)
//	token           the compact JWT
//	issuer          the expected iss
//	audience        the expected aud
//	typ             the expected typ header ("at+jwt", "JWT")
//	algorithms      the accepted algorithms (["ES256"])
//	currentDate     the verification time: an RFC 3339 string or
//	                milliseconds since the epoch (tests run on a fake clock)
//	maxTokenAge     optional, jose's maxTokenAge ("10m" or seconds)
//	clockTolerance  optional, jose's clockTolerance ("1s" or seconds)
//
// Each result is {name, ok: true, payload, protectedHeader} or
// {name, ok: false, code, message[, claim, reason]}, code being the jose
// error code (ERR_JWT_EXPIRED, …). The output is the result, or the array
// of results, as JSON on stdout. The exit status is 0 whether the tokens
// verify or not, and 2 for a usage error (bad input), reported on stderr.

import { createRemoteJWKSet, jwtVerify } from "jose";

class UsageError extends Error {}

const required = ["jwksUrl", "token", "issuer", "audience", "typ", "algorithms", "currentDate"];

async function readInput() {
  if (process.argv.length > 3) {
    throw new UsageError("give the cases as one JSON argument, or on stdin");
  }
  let text = process.argv[2];
  if (text === undefined) {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    text = Buffer.concat(chunks).toString("utf8");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`the input is not JSON: ${err.message}`);
  }
}

function checkCase(c, i) {
  if (c === null || typeof c !== "object" || Array.isArray(c)) {
    throw new UsageError(`case ${i}: not a JSON object`);
  }
  const missing = required.filter((k) => c[k] === undefined);
  if (missing.length > 0) {
    throw new UsageError(`case ${i}${c.name ? ` (${c.name})` : ""}: missing ${missing.join(", ")}`);
  }
  if (!Array.isArray(c.algorithms) || c.algorithms.length === 0) {
    throw new UsageError(`case ${i}: algorithms must be a non-empty array`);
  }
  const date = new Date(c.currentDate);
  if (Number.isNaN(date.getTime())) {
    throw new UsageError(`case ${i}: currentDate ${JSON.stringify(c.currentDate)} is not a date`);
  }
  let url;
  try {
    url = new URL(c.jwksUrl);
  } catch {
    throw new UsageError(`case ${i}: jwksUrl ${JSON.stringify(c.jwksUrl)} is not a URL`);
  }
  return { ...c, url, date };
}

// One remote key set per URL, so that the cases share its cached JWKS.
const keySets = new Map();

function keySet(url) {
  let set = keySets.get(url.href);
  if (set === undefined) {
    set = createRemoteJWKSet(url, { timeoutDuration: 10_000 });
    keySets.set(url.href, set);
  }
  return set;
}

async function verify(c) {
  const options = {
    issuer: c.issuer,
    audience: c.audience,
    typ: c.typ,
    algorithms: c.algorithms,
    currentDate: c.date,
  };
  if (c.maxTokenAge !== undefined) options.maxTokenAge = c.maxTokenAge;
  if (c.clockTolerance !== undefined) options.clockTolerance = c.clockTolerance;
  try {
    const { payload, protectedHeader } = await jwtVerify(c.token, keySet(c.url), options);
    return { name: c.name, ok: true, payload, protectedHeader };
  } catch (err) {
    const out = { name: c.name, ok: false, code: err.code ?? err.name, message: err.message };
    if (err.claim !== undefined) out.claim = err.claim;
    if (err.reason !== undefined) out.reason = err.reason;
    if (err.cause instanceof Error) out.cause = String(err.cause);
    return out;
  }
}

async function main() {
  // jose 6 needs Node.js 20 or later (it uses the global WebCrypto).
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 20) {
    throw new UsageError(`Node.js ${process.version} is too old: jose 6 needs Node.js 20 or later`);
  }
  const input = await readInput();
  const many = Array.isArray(input);
  const cases = (many ? input : [input]).map(checkCase);
  const results = [];
  for (const c of cases) results.push(await verify(c));
  process.stdout.write(JSON.stringify(many ? results : results[0]) + "\n");
}

main().catch((err) => {
  if (err instanceof UsageError) {
    process.stderr.write(`verify.mjs: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`verify.mjs: ${err.stack ?? err}\n`);
  process.exit(1);
});
