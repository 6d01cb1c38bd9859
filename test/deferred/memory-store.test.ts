import { memoryStore } from '../../src/deferred/index.js';
import { storeContract } from './contract.js';

storeContract('memoryStore', async () => ({ store: memoryStore() }), { corrupt: false, extend: true });
