// One helper thread of our SIMD kernels (see splitKernel in split.ts): it waits on its slot of the control
// array, runs the kernel call written there on the wasm backend's shared memory, and marks it done.
import {workerData} from 'worker_threads';
import {SLOT} from './pool_layout';

const {memory, module: compiled, control, args, index, names} = workerData as {memory: WebAssembly.Memory; module: WebAssembly.Module;
  control: SharedArrayBuffer; args: SharedArrayBuffer; index: number; names: string[]};
const kernels = new WebAssembly.Instance(compiled, {env: {memory}}).exports as Record<string, (...a: number[]) => void>;
const ctl = new Int32Array(control, index * SLOT.ints * 4, SLOT.ints);
const values = new Float64Array(args, index * SLOT.args * 8, SLOT.args);
Atomics.store(ctl, SLOT.done, -1); // started
Atomics.notify(ctl, SLOT.done);
for (let seen = 0; ;) {
  Atomics.wait(ctl, SLOT.asked, seen);
  seen = Atomics.load(ctl, SLOT.asked);
  let failed = 0;
  try {
    kernels[names[ctl[SLOT.kernel]]](...values.subarray(0, ctl[SLOT.count]));
  } catch {
    failed = 1;
  }
  ctl[SLOT.failed] = failed;
  Atomics.store(ctl, SLOT.done, seen);
  Atomics.notify(ctl, SLOT.done);
}
