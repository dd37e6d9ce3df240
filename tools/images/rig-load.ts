/**
 * Builds images and imports them into the running rig node's containerd, for tests and scripts that run
 * pods from them (`imagePullPolicy: Never`).
 */
import { type RigState, readRigState } from "../rig/rig";
import { importImages } from "./containerd-import";
import { buildImage, type ImageRecipe } from "./oci-image";

/**
 * Builds (or finds cached) each recipe and imports what the node does not hold yet.
 * @returns the image names, in the order given.
 * @throws Error when the rig runs without a node.
 */
export function loadRigImages(
  recipes: ImageRecipe[],
  log: (line: string) => void = () => {},
  state: RigState = readRigState(),
): string[] {
  if (!state.node) {
    throw new Error(`the rig at ${state.server} runs without a node; start one with \`npm run rig:up\``);
  }
  const images = recipes.map((recipe) => buildImage(recipe, log));
  importImages(state.node.containerdSocket, images, log);
  return images.map((image) => image.name);
}
