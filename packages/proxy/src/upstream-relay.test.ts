/** Which requests the relay takes as long-running (never over the shared unauthenticated pool). */
import { describe, expect, it } from "vitest";
import { longRunning } from "./upstream-relay";

describe("longRunning", () => {
  it("takes watches and kube-apiserver's long-running subresources as long-running", () => {
    for (const url of [
      "/api/v1/pods?watch=true",
      "/api/v1/namespaces/a/configmaps?labelSelector=x&watch=1",
      "/api/v1/watch/pods",
      "/apis/apps/v1/watch/namespaces/a/deployments/d",
      "/api/v1/namespaces/a/pods/p/log?follow=true",
      "/api/v1/namespaces/a/pods/p/log",
      "/api/v1/namespaces/a/services/s/proxy/metrics",
      "/api/v1/nodes/n/proxy",
      "/api/v1/namespaces/a/pods/p/exec?command=ls",
      "/api/v1/namespaces/a/pods/p/attach",
      "/api/v1/namespaces/a/pods/p/portforward",
    ])
      expect(longRunning(url), url).toBe(true);
  });

  it("takes everything else as over once answered", () => {
    for (const url of [
      "/version",
      "/healthz",
      "/api/v1/pods",
      "/api/v1/pods?watch=false",
      "/api/v1/namespaces/a/pods/p",
      "/api/v1/namespaces/a/configmaps/catalog?x=/log",
      "/openapi/v3/apis/apps/v1",
    ])
      expect(longRunning(url), url).toBe(false);
  });
});
