import { randomUUID } from "node:crypto";
import { ingestConnection, PROTOCOL_VERSION, sourceFromUserAgent } from "@apisnoop/protocol";
import { io } from "socket.io-client";

const url = process.argv[2] ?? "http://127.0.0.1:3112";
const connection = ingestConnection(url, { token: "0123456789abcdef0123", proxyId: "dev" });
const socket = io(connection.url, connection.options);
const minute = Math.floor(Date.now() / 60000);
const src = {
  ...sourceFromUserAgent("helm/v3.14 (linux/amd64)"),
  chart: "ingress-nginx-4.10.0",
  namespace: "ingress",
  pod: "ctl-0",
};
const ack = await socket.timeout(10000).emitWithAck("batch", {
  protocol: PROTOCOL_VERSION,
  batchId: randomUUID(),
  proxyId: "dev",
  release: process.argv[3] ?? "1.34",
  sentAt: Date.now(),
  sources: [sourceFromUserAgent("kubectl/v1.34.0 (linux/amd64) kubernetes/abc"), src],
  hits: [
    {
      source: 0,
      operationId: "listCoreV1NamespacedPod",
      method: "GET",
      statusClass: "2xx",
      minute,
      count: 5,
      details: {},
    },
    {
      source: 1,
      operationId: "readCoreV1Namespace",
      method: "GET",
      statusClass: "2xx",
      minute,
      count: 2,
      details: {},
    },
    {
      source: 1,
      operationId: "createNetworkingV1NamespacedIngress",
      method: "POST",
      statusClass: "4xx",
      minute,
      count: 1,
      details: {},
    },
  ],
  unknownCalls: [
    {
      source: 1,
      method: "GET",
      path: "/apis/cert-manager.io/v1/certificates",
      reason: "group not served by this spec",
      statusClass: "4xx",
      minute,
      count: 3,
    },
  ],
  fields: [
    {
      source: 1,
      operationId: "createNetworkingV1NamespacedIngress",
      direction: "request",
      field: "io.k8s.api.networking.v1.Ingress:spec.rules[].host",
      unknown: false,
      hour: Math.floor(minute / 60),
      count: 1,
    },
    {
      source: 1,
      operationId: "createNetworkingV1NamespacedIngress",
      direction: "request",
      field: "io.k8s.api.networking.v1.Ingress:spec.bogus",
      unknown: true,
      hour: Math.floor(minute / 60),
      count: 1,
    },
  ],
});
console.log(ack);
socket.disconnect();
