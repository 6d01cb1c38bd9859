/**
 * Creates 1,000 breakers of one library, makes a call through each, and returns. The
 * scale case checks that this process then exits by itself (no live timer keeps it).
 */
import { factories } from '../cases/scale.js';

const library = process.argv[2] ?? '';
const factory = factories[library];
if (factory === undefined) throw new Error(`unknown library ${library}`);
const breakers = Array.from({ length: 1_000 }, factory.make);
await Promise.all(breakers.map((b) => factory.call(b)));
