// The script each thread of the threaded wasm backend runs in Node (a worker_threads Worker): tfjs-backend-wasm
// ships it as a string for browsers' Blob URLs, which Node's Worker cannot start from.
const {wasmWorkerContents} = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as {wasmWorkerContents: string};
// the string keeps its "\n" escapes as newlines (tfjs escapes them the same way for its Blob)
new Function('require', '__filename', wasmWorkerContents.replace(/\n/g, '\\n'))(require, __filename);
