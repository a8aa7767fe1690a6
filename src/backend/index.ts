export {useBackend, backendsAvailable} from './use_backend';
export type {BackendName} from './use_backend';
export {wasmKernels} from './kernels';
export {fastGradients} from './gradients';
