// The Standard Webhooks reference implementation for Node (npm `standardwebhooks`), for
// handoff's interop tests (crates/handoff/tests/it/standard_webhooks.rs), used as the
// integrator guides show it. Same command line as tests/standard-webhooks/interop.py:
//
//   node standard-webhooks.mjs sign SECRET MSG_ID TIMESTAMP BODY_FILE   prints webhook-signature
//   node standard-webhooks.mjs verify SECRET REQUEST_FILE               prints "valid", or the error and exits 1
//
// REQUEST_FILE: `Name: value` header lines, a blank line, the raw body.
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const [command, secret, ...rest] = process.argv.slice(2);
if (command === "sign") {
  const [msgId, timestamp, bodyFile] = rest;
  const body = readFileSync(bodyFile, "utf8");
  console.log(new Webhook(secret).sign(msgId, new Date(Number(timestamp) * 1000), body));
} else if (command === "verify") {
  const raw = readFileSync(rest[0], "utf8");
  const at = raw.indexOf("\n\n");
  const headers = {};
  for (const line of raw.slice(0, at).split("\n")) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  try {
    new Webhook(secret).verify(raw.slice(at + 2), headers);
    console.log("valid");
  } catch (error) {
    console.log(`invalid: ${error.message}`);
    process.exitCode = 1;
  }
} else {
  console.error("usage: standard-webhooks.mjs sign|verify …");
  process.exitCode = 2;
}
