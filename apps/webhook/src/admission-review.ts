import {
  type AdmissionScope,
  type InjectionSettings,
  type PodLike,
  podInjectionPatch,
  podSkipPatch,
  shouldSnoop,
  skipReason,
} from "./pod-injection";

/** The fields of an `admission.k8s.io/v1` AdmissionReview request the webhook reads. */
export interface AdmissionReviewRequest {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  request?: {
    uid: string;
    kind?: { group: string; version: string; kind: string };
    namespace?: string;
    operation?: string;
    dryRun?: boolean;
    object?: PodLike;
  };
}

/** An `admission.k8s.io/v1` AdmissionReview response. */
export interface AdmissionReviewResponse {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  response: {
    uid: string;
    allowed: true;
    patchType?: "JSONPatch";
    patch?: string;
    warnings?: string[];
  };
}

/** What the review decided, besides the response: the namespace that now needs the CA bundle. */
export interface AdmissionDecision {
  review: AdmissionReviewResponse;
  /** Set when the pod was patched: its namespace must hold the CA bundle ConfigMap before it starts. */
  mutatedNamespace?: string;
}

/**
 * Answers one AdmissionReview. Always allows (apisnoop never blocks a pod); patches Pod CREATEs that opt in,
 * or only annotates them with the reason when they cannot be routed (`skipReason`).
 * @throws Error when the body is not an AdmissionReview v1 with a request uid.
 */
export function reviewAdmission(
  body: unknown,
  scope: AdmissionScope,
  settings: InjectionSettings,
): AdmissionDecision {
  const review = body as AdmissionReviewRequest;
  if (
    review?.apiVersion !== "admission.k8s.io/v1" ||
    review.kind !== "AdmissionReview" ||
    !review.request?.uid
  )
    throw new Error("expected an admission.k8s.io/v1 AdmissionReview with a request uid");
  const { request } = review;
  const allowed: AdmissionReviewResponse = {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: { uid: request.uid, allowed: true },
  };
  const isPodCreate =
    request.operation === "CREATE" && request.kind?.kind === "Pod" && (request.kind.group ?? "") === "";
  if (!isPodCreate || !request.object || !shouldSnoop(request.object, scope)) return { review: allowed };
  const skipped = skipReason(request.object, settings);
  const patch = skipped ? podSkipPatch(request.object, skipped) : podInjectionPatch(request.object, settings);
  allowed.response.patchType = "JSONPatch";
  allowed.response.patch = Buffer.from(JSON.stringify(patch)).toString("base64");
  if (skipped) return { review: allowed };
  const namespace = request.namespace ?? request.object.metadata?.namespace;
  return { review: allowed, ...(namespace && !request.dryRun ? { mutatedNamespace: namespace } : {}) };
}
