/** Jest global teardown: stops the object store if the setup started it. */
export { teardown as default } from './global-setup.js';
