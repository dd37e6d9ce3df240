/**
 * Storage on the rig's node: PersistentVolumes backed by directories under `.rig/node/volumes` (hostPath),
 * for charts that claim a volume (PostgreSQL). A fresh node starts with none.
 */
import { chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { rigApply } from "../kubectl";
import { readRigState } from "../rig";

/** The StorageClass name the rig's volumes carry (no provisioner: the volumes are made ahead of the claims). */
export const RIG_STORAGE_CLASS = "rig-hostpath";

export interface HostPathVolume {
  name: string;
  /** e.g. `1Gi`. */
  size: string;
  /** Owner of the directory: a hostPath volume gets no fsGroup, so the pod's user must own it. */
  uid: number;
  /** The claim it is reserved for (`namespace/name`); without it, any claim of the class may take it. */
  claim?: { namespace: string; name: string };
}

/** Creates the directory (owned by `uid`, mode 0700) and a ReadWriteOnce PersistentVolume of {@link RIG_STORAGE_CLASS}. */
export async function createHostPathVolume(volume: HostPathVolume): Promise<string> {
  const node = readRigState().node;
  if (!node) throw new Error("the rig runs without a node: hostPath volumes need one (npm run rig:up)");
  const dir = join(node.volumesDir, volume.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, volume.uid, volume.uid);
  await rigApply({
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name: volume.name, labels: { "apisnoop.dev/rig-volume": "true" } },
    spec: {
      capacity: { storage: volume.size },
      accessModes: ["ReadWriteOnce"],
      persistentVolumeReclaimPolicy: "Retain",
      storageClassName: RIG_STORAGE_CLASS,
      hostPath: { path: dir, type: "Directory" },
      ...(volume.claim && { claimRef: { apiVersion: "v1", kind: "PersistentVolumeClaim", ...volume.claim } }),
    },
  });
  return dir;
}
