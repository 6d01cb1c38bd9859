export { Pipeline, pipeline } from './pipeline.js';
