/**
 * Inference in a real browser: a localhost server hands headless Chromium (driven by
 * playwright-core) the project's own tfjs bundles, the model files and a small page runtime;
 * the page loads the model with tf.loadLayersModel and times it per backend.
 *
 * The parts, one job each: page_runtime.ts (what runs in the page), assets.ts (the static server),
 * session.ts (the Chromium driver), measure_in_browser.ts (the measurement).
 */
export * from './page_runtime';
export * from './assets';
export * from './session';
export * from './measure_in_browser';
