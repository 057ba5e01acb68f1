// A Node client of `idgen serve`, run by serve/node_test.go, which checks
// what it prints. It uses three clients this project did not write:
//
//   - @grpc/grpc-js, gRPC over HTTP/2 cleartext, with the service loaded at
//     run time from proto/idgen/v1/idgen.proto by @grpc/proto-loader (no
//     generated code), and the standard grpc.health.v1 Health service;
//   - @connectrpc/connect-node, the Connect protocol with JSON over
//     HTTP/1.1, its schema read from a FileDescriptorSet at run time;
//   - Node's own fetch, for the HTTP/JSON API.
//
// Usage: node client.mjs URL DESCRIPTORS.binpb [UNAVAILABLE-URL]
//
// URL is a server that issues IDs; DESCRIPTORS is a binary
// google.protobuf.FileDescriptorSet holding idgen/v1/idgen.proto and
// grpc/health/v1/health.proto; UNAVAILABLE-URL, if given, is a server that
// cannot issue. Prints one JSON object on stdout; 64-bit numbers are
// decimal strings. Exits 1, with the reason on stderr, on any surprise.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

const [url, descriptorPath, unavailableURL] = process.argv.slice(2);
if (!url || !descriptorPath) {
  console.error("usage: node client.mjs URL DESCRIPTORS.binpb [UNAVAILABLE-URL]");
  process.exit(2);
}
const protoRoot = fileURLToPath(new URL("../../../proto", import.meta.url));
const descriptors = readFileSync(descriptorPath);
const loaderOptions = { longs: String, enums: String, defaults: true };

// --- gRPC: @grpc/grpc-js with the .proto loaded at run time ---

const idgenPackage = grpc.loadPackageDefinition(
  protoLoader.loadSync("idgen/v1/idgen.proto", { ...loaderOptions, includeDirs: [protoRoot] }),
);
const healthPackage = grpc.loadPackageDefinition(
  protoLoader.loadFileDescriptorSetFromBuffer(descriptors, loaderOptions),
);

function grpcClients(base) {
  const target = new URL(base).host;
  const creds = grpc.credentials.createInsecure();
  return {
    ids: new idgenPackage.idgen.v1.IDService(target, creds),
    health: new healthPackage.grpc.health.v1.Health(target, creds),
  };
}

// unary calls a method and resolves to {ok, code, details, metadata}.
function unary(client, method, request) {
  return new Promise((resolve) => {
    client[method](request, { deadline: Date.now() + 10_000 }, (err, res) => {
      if (err) {
        resolve({ ok: false, code: err.code, details: err.details, metadata: err.metadata.getMap() });
      } else {
        resolve({ ok: true, res });
      }
    });
  });
}

function must(r, what) {
  if (!r.ok) {
    throw new Error(`${what}: gRPC status ${r.code}: ${r.details}`);
  }
  return r.res;
}

async function viaGRPC(base) {
  const c = grpcClients(base);
  try {
    const next = must(await unary(c.ids, "Next", { count: 1000 }), "Next");
    const decode = must(await unary(c.ids, "Decode", { id: next.ids[0] }), "Decode");
    const health = must(await unary(c.health, "Check", { service: "" }), "Health/Check");
    const healthService = must(await unary(c.health, "Check", { service: "idgen.v1.IDService" }), "Health/Check idgen.v1.IDService");
    const unknown = await unary(c.health, "Check", { service: "nope.v1.Nope" });
    const tooMany = await unary(c.ids, "Next", { count: 10001 });
    return {
      ids: next.ids,
      decode,
      health: health.status,
      healthService: healthService.status,
      unknownServiceCode: unknown.code,
      tooMany: { code: tooMany.code, details: tooMany.details },
    };
  } finally {
    c.ids.close();
    c.health.close();
  }
}

async function unavailableViaGRPC(base) {
  const c = grpcClients(base);
  try {
    const next = await unary(c.ids, "Next", { count: 10 });
    const health = must(await unary(c.health, "Check", { service: "" }), "Health/Check");
    return {
      code: next.code,
      details: next.details,
      retryAfter: String(next.metadata["retry-after"] ?? ""),
      health: health.status,
    };
  } finally {
    c.ids.close();
    c.health.close();
  }
}

// --- Connect protocol, JSON over HTTP/1.1: @connectrpc/connect-node ---

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptors));
const IDService = registry.getService("idgen.v1.IDService");
if (!IDService) {
  throw new Error(`${descriptorPath} has no idgen.v1.IDService`);
}

function connectClient(base) {
  return createClient(
    IDService,
    createConnectTransport({ baseUrl: base, httpVersion: "1.1", useBinaryFormat: false }),
  );
}

function decodedToJSON(d) {
  return {
    id: String(d.id),
    time: d.time,
    tick: String(d.tick),
    worker: String(d.worker),
    sequence: String(d.sequence),
  };
}

async function connectError(promise) {
  try {
    await promise;
  } catch (err) {
    const ce = ConnectError.from(err);
    return { code: Code[ce.code], message: ce.rawMessage, retryAfter: ce.metadata.get("retry-after") ?? "" };
  }
  throw new Error("the call succeeded, an error was expected");
}

async function viaConnect(base) {
  const c = connectClient(base);
  const next = await c.next({ count: 1000 });
  const decode = await c.decode({ id: next.ids[0] });
  const tooMany = await connectError(c.next({ count: 10001 }));
  return { ids: next.ids.map(String), decode: decodedToJSON(decode), tooMany };
}

// --- HTTP/JSON: fetch ---

async function getJSON(u) {
  const res = await fetch(u);
  const text = await res.text();
  return { status: res.status, retryAfter: res.headers.get("retry-after") ?? "", body: text ? JSON.parse(text) : null };
}

async function viaFetch(base) {
  const ids = await getJSON(`${base}/v1/ids?count=5`);
  if (ids.status !== 200) {
    throw new Error(`GET /v1/ids: ${ids.status} ${JSON.stringify(ids.body)}`);
  }
  const decode = await getJSON(`${base}/v1/decode/${ids.body.ids[0]}`);
  const bad = await getJSON(`${base}/v1/ids?count=0`);
  return { ids: ids.body.ids, decode: decode.body, bad: { status: bad.status, body: bad.body } };
}

// --- main ---

const out = {};
out.grpc = await viaGRPC(url);
out.connect = await viaConnect(url);
out.http = await viaFetch(url);
if (unavailableURL) {
  const readyz = await fetch(`${unavailableURL}/readyz`);
  await readyz.text();
  out.unavailable = {
    grpc: await unavailableViaGRPC(unavailableURL),
    connect: await connectError(connectClient(unavailableURL).next({ count: 10 })),
    http: await getJSON(`${unavailableURL}/v1/ids?count=10`),
    readyz: readyz.status,
  };
}
process.stdout.write(JSON.stringify(out) + "\n");
