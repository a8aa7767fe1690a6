export {useBackend, backendsAvailable} from './use_backend';
export type {BackendName, BackendOptions} from './use_backend';
export {installPatches, installedPatches, layerPatches, uninstallPatches} from './patches';
export type {PatchName} from './patches';
export {wasmThreads, MAX_THREADS} from './threads';
export {wasmKernels} from './kernels';
export {fastGradients} from './gradients';
