export {useBackend, backendsAvailable} from './use_backend';
export type {BackendName, UseBackendOptions} from './use_backend';
export {installPatches, installedPatches, layerPatches, uninstallPatches} from './patches';
export type {PatchName} from './patches';
export {wasmKernels} from './kernels';
export {fastGradients} from './gradients';
